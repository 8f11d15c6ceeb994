//! Writing files inside the experiment directory safely: never through a
//! symlink, and whole-file rewrites atomically (temp file, fsync, rename).

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open options that refuse to follow a symlink at the last component.
pub fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC);
    options
}

/// Replace `path` with `contents` so that readers see the old or the new file,
/// never a mix, and a crash leaves one of the two.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    // A bare file name's parent is "", the current directory.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    // Unique across processes and hosts sharing the directory.
    let tmp = dir.join(format!(".{name}.tmp.{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = no_follow().write(true).create_new(true).mode(0o644).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|err| {
        let _ = fs::remove_file(&tmp);
        Error::io("cannot write", path, err)
    })
}

/// Create a directory (and parents) unless it exists; refuse a symlink.
pub fn ensure_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::state(format!("{} exists and is not a directory", path.display()))),
        Err(_) => fs::create_dir_all(path).map_err(|err| Error::io("cannot create", path, err)),
    }
}
