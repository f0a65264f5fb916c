fn main() {
    std::process::exit(cynork::run(std::env::args_os()));
}
