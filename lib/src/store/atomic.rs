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
    write_atomic_with(path, |file| Ok(std::io::Write::write_all(file, contents)?))
}

/// Why writing a file's contents failed: the file (its errno tells what
/// kind of failure), or what was written (a config that does not parse).
pub enum WriteFailure {
    Io(std::io::Error),
    Other(Error),
}

impl From<std::io::Error> for WriteFailure {
    fn from(err: std::io::Error) -> WriteFailure {
        WriteFailure::Io(err)
    }
}

impl From<Error> for WriteFailure {
    fn from(err: Error) -> WriteFailure {
        WriteFailure::Other(err)
    }
}

/// [`write_atomic`], the contents written by `fill` through a buffer, so a
/// big file need not be in memory whole.
pub fn write_atomic_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::result::Result<T, WriteFailure>,
) -> Result<T> {
    // A bare file name's parent is "", the current directory.
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::usage(format!("{}: not a file name", path.display())))?;
    let folder = Folder::root(dir).map_err(|err| Error::io("cannot write", path, err))?;
    folder.write_atomic_with(name, fill).map_err(|failure| match failure {
        WriteFailure::Io(err) => Error::io("cannot write", path, err),
        WriteFailure::Other(err) => err,
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

/// Make files and folders made from now on (by this process and the
/// commands it starts, which inherit its umask) as shared as `dir` is: for
/// the group, and for others, to whom `dir` grants write access, the umask
/// gives way to what `dir` grants them. An experiment made group- or
/// world-writable (`chmod -R g+rwX`, a setgid project folder) so stays
/// usable by every user who works in it: each may write the journal, the
/// lock and `runners/`, and rerun a config in a folder another user made.
/// A folder that grants nobody else write access changes nothing, nor does
/// a sticky one (`/tmp`): there, no user may replace another's files, so it
/// is no shared experiment.
pub fn share_as(dir: &Path) {
    use nix::sys::stat::{umask, Mode};
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::metadata(dir) else { return };
    let mode = meta.permissions().mode();
    if mode & 0o1000 != 0 {
        return;
    }
    let mut given = 0;
    for class in [0o070, 0o007] {
        // Write access for the class (group, others): what it may, we let it.
        if mode & class & 0o222 != 0 {
            given |= mode & class;
        }
    }
    if given == 0 {
        return;
    }
    let old = umask(Mode::empty());
    umask(old & !Mode::from_bits_truncate(given));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn files_made_in_a_shared_folder_are_shared_as_it_is() {
        use nix::sys::stat::{umask, Mode};
        let tmp = tempfile::tempdir().unwrap();
        let old = umask(Mode::from_bits_truncate(0o022));
        let made = |name: &str| {
            let path = tmp.path().join(name);
            write_atomic(&path, b"x").unwrap();
            fs::metadata(&path).unwrap().permissions().mode() & 0o777
        };
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        share_as(tmp.path());
        assert_eq!(made("private"), 0o644);
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o775)).unwrap();
        share_as(tmp.path());
        assert_eq!(made("group"), 0o664);
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o777)).unwrap();
        share_as(tmp.path());
        assert_eq!(made("world"), 0o666);
        umask(Mode::from_bits_truncate(0o022));
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o1777)).unwrap();
        share_as(tmp.path());
        assert_eq!(made("sticky"), 0o644);
        umask(old);
    }
}
