//! A job's own disk: a sparse ext4 image of a fixed size, loop-mounted (`nosuid,nodev`)
//! for one job and deleted after it.
//!
//! Whatever a sandbox may write to outside its memory-backed scratch space (a worker's
//! checkout at `/repo`, its change in `/out`) lives here, so a job that writes without end
//! fills its own disk and fails with `disk_quota_exceeded` while the node's disk keeps its
//! space. The node never walks what the sandbox wrote: it reads the one file it expects
//! (see `workspace::change`) and then unmounts and deletes the image whole.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Free space below which a job's disk counts as full.
const FULL_BELOW_BYTES: u64 = 1024 * 1024;
/// How long mkfs, mount or umount may take.
const DISK_COMMAND_DEADLINE: Duration = Duration::from_secs(30);

/// A mounted job disk; [`JobDisk::release`] unmounts and deletes it.
#[derive(Debug)]
pub struct JobDisk {
    image: PathBuf,
    mount: PathBuf,
    size_bytes: u64,
}

/// Parses a size like `4g`, `512m`, `64k` or a number of bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text.as_str(), ""),
    };
    let number: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim_end_matches(['b', 'i']) {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    number.checked_mul(scale)
}

async fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(DISK_COMMAND_DEADLINE, output)
        .await
        .map_err(|_| format!("{program} did not finish within {DISK_COMMAND_DEADLINE:?}"))?
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl JobDisk {
    /// Creates a disk of `size_bytes` at `dir/disk.img`, mounted at `dir/disk`.
    pub async fn create(dir: &Path, size_bytes: u64) -> Result<JobDisk, String> {
        let image = dir.join("disk.img");
        let mount = dir.join("disk");
        std::fs::create_dir_all(&mount)
            .map_err(|err| format!("creating {}: {err}", mount.display()))?;
        let file = std::fs::File::create(&image)
            .map_err(|err| format!("creating the job's disk image: {err}"))?;
        file.set_len(size_bytes)
            .map_err(|err| format!("sizing the job's disk image: {err}"))?;
        drop(file);
        let disk = JobDisk {
            image,
            mount,
            size_bytes,
        };
        let image = disk.image.to_string_lossy().into_owned();
        let mount = disk.mount.to_string_lossy().into_owned();
        let made = async {
            // No journal: the disk is scratch space that dies with its job.
            run(
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-m",
                    "0",
                    "-O",
                    "^has_journal",
                    "-E",
                    "lazy_itable_init=1,nodiscard",
                    &image,
                ],
            )
            .await?;
            run(
                "mount",
                &["-o", "loop,nosuid,nodev,noatime", &image, &mount],
            )
            .await
        };
        match made.await {
            Ok(()) => Ok(disk),
            Err(err) => {
                disk.release().await;
                Err(format!("creating the job's disk: {err}"))
            }
        }
    }

    /// Where the disk is mounted.
    pub fn path(&self) -> &Path {
        &self.mount
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Whether the job used up its space or its files (what writing past the quota
    /// leaves behind).
    pub fn is_full(&self) -> bool {
        match statvfs(&self.mount) {
            Some(stats) => {
                stats.f_bavail.saturating_mul(stats.f_frsize) < FULL_BELOW_BYTES
                    || stats.f_favail == 0
            }
            None => false,
        }
    }

    /// Unmounts the disk (lazily if something still holds it) and deletes its image.
    pub async fn release(self) {
        let mount = self.mount.to_string_lossy().into_owned();
        if is_mounted(&self.mount) {
            if let Err(err) = run("umount", &[&mount]).await {
                tracing::warn!(error = %err, "unmounting a job's disk; detaching it instead");
                let _ = run("umount", &["--lazy", &mount]).await;
            }
        }
        let _ = std::fs::remove_file(&self.image);
        let _ = std::fs::remove_dir(&self.mount);
    }
}

fn statvfs(path: &Path) -> Option<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `stats` is written by statvfs on success.
    let ok = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) } == 0;
    // SAFETY: statvfs succeeded, so `stats` is initialised.
    ok.then(|| unsafe { stats.assume_init() })
}

/// Mount points (from `/proc/self/mountinfo`) at or below `dir`, deepest first.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mount_path)
        .filter(|path| path.starts_with(dir))
        .collect();
    found.sort_by_key(|path| std::cmp::Reverse(path.components().count()));
    found
}

fn is_mounted(path: &Path) -> bool {
    mounts_under(path).iter().any(|mount| mount == path)
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape_mount_path(field: &str) -> PathBuf {
    let mut out = Vec::with_capacity(field.len());
    let bytes = field.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            if let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Unmounts every job disk a crash of this node left mounted under `dir`, so that the
/// directory can be removed without walking into a sandbox's files.
pub async fn unmount_leftovers(dir: &Path) -> usize {
    let mounts = mounts_under(dir);
    for mount in &mounts {
        tracing::warn!(mount = %mount.display(), "unmounting a job disk left by an earlier run");
        let _ = run("umount", &["--lazy", &mount.to_string_lossy()]).await;
    }
    mounts.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_podmans() {
        assert_eq!(parse_size("4g"), Some(4 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("4x"), None);
        assert_eq!(parse_size("99999999999t"), None);
    }

    #[test]
    fn mount_paths_are_unescaped() {
        assert_eq!(
            unescape_mount_path(r"/tmp/a\040b/disk"),
            PathBuf::from("/tmp/a b/disk")
        );
        assert_eq!(unescape_mount_path("/plain"), PathBuf::from("/plain"));
    }
}
