//! URL rules both ends apply to what users give as repository and forge URLs: the gateway
//! refuses them up front (400), and the edge node checks again before its own git or
//! forge call uses one.

/// Whether a URL's path could walk somewhere else than it spells: `.` or `..` segments,
/// or percent-encoded dots, slashes or backslashes.
pub fn walks_paths(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2e")
        || lower.contains("%2f")
        || lower.contains("%5c")
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_raw_or_encoded_walk() {
        for walking in [
            "acme/../etc",
            "acme/./x",
            "..",
            "acme/%2e%2e/x",
            "acme/%2E%2e/x",
            "acme%2Fx",
            "a%5cb",
        ] {
            assert!(walks_paths(walking), "{walking}");
        }
        for plain in ["acme/widgets.git", "a.b/c..d/e.git", "api/v3", ""] {
            assert!(!walks_paths(plain), "{plain}");
        }
    }
}
