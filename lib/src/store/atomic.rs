//! Writing files inside the experiment directory safely: never through a
//! symlink, and whole-file rewrites atomically (temp file, fsync, rename).

use crate::error::{Error, Result};
use crate::store::folder::Folder;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open options that refuse to follow a symlink at the last component, and
/// never block on opening (a FIFO planted in place of a file): check what
/// was opened with [`regular`].
pub fn no_follow() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC | nix::libc::O_NONBLOCK);
    options
}

/// Keep `file` only if it is a regular file, then make it blocking again
/// (commands inherit log files as their stdout and stderr).
pub fn regular(file: File, path: &Path) -> Result<File> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let meta = file.metadata().map_err(|err| Error::io("cannot open", path, err))?;
    if !meta.is_file() {
        return Err(Error::state(format!("{} is not a regular file", path.display())));
    }
    let flags = fcntl(file.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|err| Error::io("cannot open", path, err.into()))?;
    let blocking = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(file.as_raw_fd(), FcntlArg::F_SETFL(blocking))
        .map_err(|err| Error::io("cannot open", path, err.into()))?;
    Ok(file)
}

/// Replace `path` with `contents` so that readers see the old or the new file,
/// never a mix, and a crash leaves one of the two.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    // A bare file name's parent is "", the current directory.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::usage(format!("{}: not a file name", path.display())))?;
    Folder::root(dir)
        .and_then(|folder| folder.write_atomic(name, contents))
        .map_err(|err| Error::io("cannot write", path, err))
}

/// Create a directory (and parents) unless it exists; refuse a symlink.
pub fn ensure_dir(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(Error::state(format!("{} exists and is not a directory", path.display()))),
        Err(_) => fs::create_dir_all(path).map_err(|err| Error::io("cannot create", path, err)),
    }
}
