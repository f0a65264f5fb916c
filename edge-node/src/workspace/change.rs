//! Taking a worker's change out of its sandbox: the one file the node reads from what a
//! sandbox wrote.
//!
//! The agent ends a worker job by writing its commits as a git bundle to
//! `/out/change.bundle` (on the job's own disk). The node opens that path without
//! following a symlink and without blocking on a FIFO, accepts only a regular file within
//! the size limit, and copies it into a directory of its own. Only the copy is given to
//! git ([`super::Workspace::publish`] verifies it and fetches from it into the node's
//! repository), so a planted symlink, hardlink, hook, alternates file, packed-refs or
//! config in the sandbox's checkout has nothing to act on.

use std::io::Read;
use std::path::Path;

/// Where the agent writes the change, inside `/out`.
pub const CHANGE_FILE: &str = "change.bundle";

/// Why a change could not be taken (the node's words; nothing read from the file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error("the worker left no change (no {CHANGE_FILE} in /out)")]
    Missing,
    #[error("the worker's change is not a regular file")]
    NotAFile,
    #[error("the worker's change is larger than the node's limit of {0} bytes")]
    TooLarge(u64),
    #[error("the worker's change could not be read: {0}")]
    Unreadable(String),
}

/// Copies `out_dir/change.bundle` to `into` (created, 0600), refusing anything but a
/// regular file of at most `max_bytes`.
pub fn take_change(out_dir: &Path, into: &Path, max_bytes: u64) -> Result<u64, ChangeError> {
    use std::os::unix::fs::OpenOptionsExt;
    let source = out_dir.join(CHANGE_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(&source);
    let file = match file {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(ChangeError::Missing),
        // ELOOP: the name is a symlink.
        Err(err) if err.raw_os_error() == Some(libc::ELOOP) => return Err(ChangeError::NotAFile),
        Err(err) => return Err(ChangeError::Unreadable(err.kind().to_string())),
    };
    let meta = file
        .metadata()
        .map_err(|err| ChangeError::Unreadable(err.kind().to_string()))?;
    if !meta.is_file() {
        return Err(ChangeError::NotAFile);
    }
    if meta.len() > max_bytes {
        return Err(ChangeError::TooLarge(max_bytes));
    }
    let mut copy = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(into)
        .map_err(|err| ChangeError::Unreadable(format!("cannot write the copy: {}", err.kind())))?;
    // Bounded even if the file grows while it is read.
    let copied = std::io::copy(&mut file.take(max_bytes + 1), &mut copy)
        .map_err(|err| ChangeError::Unreadable(err.kind().to_string()))?;
    if copied > max_bytes {
        let _ = std::fs::remove_file(into);
        return Err(ChangeError::TooLarge(max_bytes));
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("cynode-change-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("out")).unwrap();
        dir
    }

    #[test]
    fn a_regular_file_within_the_limit_is_copied() {
        let dir = dir("ok");
        std::fs::write(dir.join("out").join(CHANGE_FILE), b"# v2 git bundle\n").unwrap();
        let copy = dir.join("copy");
        assert_eq!(take_change(&dir.join("out"), &copy, 1024), Ok(16));
        assert_eq!(std::fs::read(&copy).unwrap(), b"# v2 git bundle\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_fifos_directories_and_oversized_files_are_refused() {
        let dir = dir("bad");
        let out = dir.join("out");
        let secret = dir.join("node-secret");
        std::fs::write(&secret, "s3cret").unwrap();
        std::os::unix::fs::symlink(&secret, out.join(CHANGE_FILE)).unwrap();
        assert_eq!(
            take_change(&out, &dir.join("c1"), 1024),
            Err(ChangeError::NotAFile)
        );
        std::fs::remove_file(out.join(CHANGE_FILE)).unwrap();

        let fifo = std::ffi::CString::new(out.join(CHANGE_FILE).to_str().unwrap()).unwrap();
        // SAFETY: a valid path; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert_eq!(
            take_change(&out, &dir.join("c2"), 1024),
            Err(ChangeError::NotAFile)
        );
        std::fs::remove_file(out.join(CHANGE_FILE)).unwrap();

        std::fs::create_dir(out.join(CHANGE_FILE)).unwrap();
        assert_eq!(
            take_change(&out, &dir.join("c3"), 1024),
            Err(ChangeError::NotAFile)
        );
        std::fs::remove_dir(out.join(CHANGE_FILE)).unwrap();

        std::fs::write(out.join(CHANGE_FILE), vec![b'x'; 2048]).unwrap();
        assert_eq!(
            take_change(&out, &dir.join("c4"), 1024),
            Err(ChangeError::TooLarge(1024))
        );
        std::fs::remove_file(out.join(CHANGE_FILE)).unwrap();

        assert_eq!(
            take_change(&out, &dir.join("c5"), 1024),
            Err(ChangeError::Missing)
        );
        for copy in ["c1", "c2", "c3", "c4", "c5"] {
            assert!(!dir.join(copy).exists(), "{copy}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
