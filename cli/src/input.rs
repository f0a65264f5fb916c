//! Checks of local input files, all before any request: each path must be a regular,
//! readable file (not a directory, not a symlink) within its size limit.

use std::path::Path;

use cynode_protocol::limits::{
    MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES, MAX_COMMANDS_BYTES, MAX_PROMPT_BYTES, MAX_SCRIPT_BYTES,
};

use crate::error::{CliError, CliResult};

/// Checks `path` is a regular file of at most `limit` bytes; returns its size.
pub fn check_file(path: &Path, limit: u64, what: &str) -> CliResult<u64> {
    let shown = path.display();
    let meta = std::fs::symlink_metadata(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound => CliError::usage(format!("{what} {shown}: no such file")),
        _ => CliError::usage(format!("{what} {shown}: {err}")),
    })?;
    if meta.file_type().is_symlink() {
        return Err(CliError::usage(format!(
            "{what} {shown}: is a symlink; give the file itself"
        )));
    }
    if meta.is_dir() {
        return Err(CliError::usage(format!("{what} {shown}: is a directory")));
    }
    if !meta.is_file() {
        return Err(CliError::usage(format!(
            "{what} {shown}: is not a regular file"
        )));
    }
    if meta.len() > limit {
        return Err(CliError::usage(format!(
            "{what} {shown}: {} bytes is over the limit of {limit} bytes",
            meta.len()
        )));
    }
    // Opening proves it is readable.
    std::fs::File::open(path)
        .map_err(|err| CliError::usage(format!("{what} {shown}: cannot read it: {err}")))?;
    Ok(meta.len())
}

fn read_text(path: &Path, limit: u64, what: &str) -> CliResult<String> {
    check_file(path, limit, what)?;
    let bytes = std::fs::read(path)
        .map_err(|err| CliError::usage(format!("{what} {}: {err}", path.display())))?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::usage(format!("{what} {}: is not UTF-8 text", path.display())))
}

pub fn read_task_file(path: &Path) -> CliResult<String> {
    read_text(path, MAX_PROMPT_BYTES as u64, "task file")
}

pub fn read_skill(path: &Path) -> CliResult<String> {
    read_text(
        path,
        cynode_protocol::limits::MAX_SKILL_BYTES as u64,
        "skill file",
    )
}

pub fn read_script(path: &Path) -> CliResult<String> {
    read_text(path, MAX_SCRIPT_BYTES as u64, "script")
}

/// The commands in a file, one per line; blank lines are skipped.
pub fn read_commands_file(path: &Path) -> CliResult<Vec<String>> {
    let text = read_text(path, MAX_COMMANDS_BYTES as u64, "commands file")?;
    let commands: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if commands.is_empty() {
        return Err(CliError::usage(format!(
            "commands file {}: has no commands",
            path.display()
        )));
    }
    Ok(commands)
}

/// Checks the attachments; returns each one's file name and size.
pub fn check_attachments(paths: &[std::path::PathBuf]) -> CliResult<Vec<(String, u64)>> {
    if paths.len() > MAX_ATTACHMENTS {
        return Err(CliError::usage(format!(
            "at most {MAX_ATTACHMENTS} attachments, got {}",
            paths.len()
        )));
    }
    paths
        .iter()
        .map(|path| {
            let size = check_file(path, MAX_ATTACHMENT_BYTES, "attachment")?;
            let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                CliError::usage(format!(
                    "attachment {}: needs a UTF-8 file name",
                    path.display()
                ))
            })?;
            Ok((name.to_owned(), size))
        })
        .collect()
}

/// One line of stdin, without its line ending, after printing `prompt` (if any) on stderr.
pub fn read_line(prompt: Option<&str>) -> CliResult<String> {
    use std::io::{BufRead, Write};
    if let Some(prompt) = prompt {
        eprint!("{prompt}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|err| CliError::usage(format!("cannot read stdin: {err}")))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// A secret from stdin (never an argument, which other users could see in the process
/// list): a token (one line), or an ssh deploy key (a `-----BEGIN … PRIVATE KEY-----`
/// block, read to its `-----END` line). `flag` and `what` name it in errors.
pub fn secret_from_stdin(flag: &str, what: &str) -> CliResult<String> {
    let mut secret = read_line(None)?;
    if secret.trim().is_empty() {
        return Err(CliError::usage(format!("{flag}: stdin had no {what}")));
    }
    if secret.trim_start().starts_with("-----BEGIN ") {
        loop {
            let line = read_line(None)?;
            if line.is_empty() {
                return Err(CliError::usage(format!(
                    "{flag}: the key has no -----END line"
                )));
            }
            secret.push('\n');
            secret.push_str(&line);
            if line.trim_start().starts_with("-----END ") {
                break;
            }
        }
    }
    Ok(secret)
}

/// Asks a yes/no question on stderr; only `y` is yes.
pub fn confirm(question: &str) -> CliResult<bool> {
    Ok(matches!(
        read_line(Some(&format!("{question} [y/N] ")))?.trim(),
        "y" | "Y"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cynork-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn paths_must_be_regular_files_within_the_limit() {
        let d = dir("paths");
        let file = d.join("f.txt");
        std::fs::write(&file, "12345").unwrap();
        assert_eq!(check_file(&file, 5, "x").unwrap(), 5);
        let over = check_file(&file, 4, "x").unwrap_err();
        assert!(over.message.contains("over the limit"), "{}", over.message);
        assert!(check_file(&d, 10, "x")
            .unwrap_err()
            .message
            .contains("directory"));
        assert!(check_file(&d.join("missing"), 10, "x")
            .unwrap_err()
            .message
            .contains("no such file"));
        let link = d.join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(check_file(&link, 10, "x")
            .unwrap_err()
            .message
            .contains("symlink"));
        for err in [
            check_file(&d, 10, "x").unwrap_err(),
            check_file(&link, 10, "x").unwrap_err(),
        ] {
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn commands_files_skip_blank_lines() {
        let d = dir("commands");
        let file = d.join("cmds");
        std::fs::write(&file, "echo a\n\n   \necho b\n").unwrap();
        assert_eq!(read_commands_file(&file).unwrap(), ["echo a", "echo b"]);
        std::fs::write(&file, "\n \n").unwrap();
        assert!(read_commands_file(&file).is_err());
    }

    #[test]
    fn too_many_attachments_are_refused() {
        let d = dir("attachments");
        let file = d.join("a");
        std::fs::write(&file, "x").unwrap();
        let paths = vec![file; MAX_ATTACHMENTS + 1];
        assert!(check_attachments(&paths)
            .unwrap_err()
            .message
            .contains("at most"));
        assert_eq!(
            check_attachments(&paths[..2]).unwrap()[0],
            ("a".to_owned(), 1)
        );
    }
}
