//! Folders held open by descriptor: what lies inside the experiment
//! directory is reached one component at a time, never through a symlink,
//! and files are made relative to a folder opened once, so a folder
//! swapped for a symlink between a check and a use leads nowhere.

use rustix::fs::{AtFlags, Mode, OFlags};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// An open directory and the path it was opened by (for messages, and for
/// the paths given to commands).
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
    path: PathBuf,
}

/// Whether an error is a refusal to pass through a symlink (or through
/// something that is not a folder at all).
pub fn is_symlink_refusal(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(nix::libc::ELOOP | nix::libc::ENOTDIR))
}

impl Folder {
    /// The experiment directory itself: it may be a symlink (only what is
    /// inside it is held to never following one).
    pub fn root(path: &Path) -> io::Result<Folder> {
        let fd = rustix::fs::open(path, OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
        Ok(Folder { fd, path: path.to_path_buf() })
    }

    /// Walk from `root` through `components`, each a folder that is no symlink.
    pub fn walk(root: &Path, components: &[&str]) -> io::Result<Folder> {
        let mut folder = Folder::root(root)?;
        for component in components {
            folder = folder.sub(component)?;
        }
        Ok(folder)
    }

    /// The folder's open descriptor, for calls relative to it.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.fd.as_fd()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The folder `name` inside this one; a symlink is refused (ELOOP), as
    /// is anything but a folder (ENOTDIR).
    pub fn sub(&self, name: &str) -> io::Result<Folder> {
        let flags = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::RDONLY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty())?;
        Ok(Folder { fd, path: self.join(name) })
    }

    /// The folder `name`, made if missing; whether it was made.
    pub fn sub_made(&self, name: &str) -> io::Result<(Folder, bool)> {
        let made = match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) => true,
            Err(rustix::io::Errno::EXIST) => false,
            Err(err) => return Err(err.into()),
        };
        Ok((self.sub(name)?, made))
    }

    /// Open a file a command controls, for reading: without blocking (a
    /// FIFO planted in its place) and only if it is a regular file.
    pub fn open_regular(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        regular(rustix::fs::openat(&self.fd, name, flags, Mode::empty())?)
    }

    /// Create (or truncate) a regular file for writing, refusing a symlink
    /// or anything else in its place.
    pub fn create(&self, name: &str) -> io::Result<File> {
        self.create_with(name, OFlags::CREATE | OFlags::TRUNC)
    }

    /// Create (or truncate) a regular file for writing, as [`Folder::create`],
    /// in fewer calls when it does not exist yet (a config's first attempt):
    /// `O_EXCL` can only make a new regular file, so it needs no check and
    /// no `O_NONBLOCK`; anything in its place (a symlink or a FIFO
    /// included) takes the careful way.
    pub fn create_fresh(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666)) {
            Ok(fd) => Ok(File::from(fd)),
            Err(rustix::io::Errno::EXIST) => self.create(name),
            Err(err) => Err(err.into()),
        }
    }

    /// A file this process made empty a moment ago (a config folder made
    /// ahead), for writing: no creation, no check beyond not following a
    /// symlink.
    pub fn open_made(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(File::from(rustix::fs::openat(&self.fd, name, flags, Mode::empty())?))
    }

    /// The folder `name` made if missing, without opening it: one that is
    /// there must be a folder (a symlink is refused, ELOOP; anything else,
    /// ENOTDIR).
    pub fn ensure_sub(&self, name: &str) -> io::Result<()> {
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                let kind = rustix::fs::FileType::from_raw_mode(
                    rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?.st_mode,
                );
                match kind {
                    rustix::fs::FileType::Directory => Ok(()),
                    rustix::fs::FileType::Symlink => Err(io::Error::from_raw_os_error(nix::libc::ELOOP)),
                    _ => Err(io::Error::from_raw_os_error(nix::libc::ENOTDIR)),
                }
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Create a file that must not exist yet.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        self.create_with(name, OFlags::CREATE | OFlags::EXCL)
    }

    fn create_with(&self, name: &str, how: OFlags) -> io::Result<File> {
        let flags = how | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        regular(rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o666))?)
    }

    /// What `name` is (a symlink is not followed), if it exists.
    pub fn stat(&self, name: &str) -> Option<rustix::fs::Stat> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).ok()
    }

    /// Whether `name` exists here (a symlink counts: it is not followed).
    pub fn has(&self, name: &str) -> bool {
        self.stat(name).is_some()
    }

    /// Rename `from` in this folder to `to` in `into`.
    pub fn rename(&self, from: &str, into: &Folder, to: &str) -> io::Result<()> {
        Ok(rustix::fs::renameat(&self.fd, from, &into.fd, to)?)
    }

    /// Replace `name` with `contents` so that readers see the old or the
    /// new file, never a mix, and a crash leaves one of the two (temp file,
    /// fsync, rename, then the folder synced where it can be).
    pub fn write_atomic(&self, name: &str, contents: &[u8]) -> io::Result<()> {
        self.write_atomic_with(name, |file| std::io::Write::write_all(file, contents))
    }

    /// [`Folder::write_atomic`], the contents written by `fill` (through a
    /// buffer, so a big file need not be in memory whole).
    pub fn write_atomic_with<T, E: From<io::Error>>(
        &self,
        name: &str,
        fill: impl FnOnce(&mut std::io::BufWriter<File>) -> Result<T, E>,
    ) -> Result<T, E> {
        // Unique across processes and hosts sharing the folder.
        let tmp = format!(".{name}.tmp.{}", uuid::Uuid::new_v4().simple());
        let written = (|| {
            let mut file = std::io::BufWriter::with_capacity(1 << 20, self.create_new(&tmp)?);
            let value = fill(&mut file)?;
            let file = file.into_inner().map_err(|err| err.into_error())?;
            file.sync_all()?;
            self.rename(&tmp, self, name)?;
            Ok(value)
        })();
        if written.is_err() {
            let _ = self.remove_file(&tmp);
            return written;
        }
        // The new file is in place: a folder that refuses fsync (some
        // network filesystems) only makes the rename's durability less certain.
        if let Err(err) = rustix::fs::fsync(&self.fd) {
            crate::report::warn(format!(
                "{} was written, but its folder could not be synced: {err}",
                self.join(name).display()
            ));
        }
        written
    }

    /// Remove the file (or symlink) `name`.
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?)
    }
}

/// Keep an opened file only if it is a regular file, then make it blocking
/// again (commands inherit log files as their stdout and stderr).
fn regular(fd: OwnedFd) -> io::Result<File> {
    if !rustix::fs::FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode).is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_folder_or_file_is_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join("deep")).unwrap();
        std::fs::write(outside.join("secret"), "s").unwrap();
        let root = tmp.path().join("exp");
        std::fs::create_dir_all(root.join("configs")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("configs/evil")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), root.join("configs/link")).unwrap();

        let configs = Folder::walk(&root, &["configs"]).unwrap();
        let err = configs.sub("evil").unwrap_err();
        assert!(is_symlink_refusal(&err), "{err}");
        assert!(is_symlink_refusal(&configs.sub_made("evil").unwrap_err()));
        assert!(configs.open_regular("link").is_err());
        assert!(configs.create("link").is_err());
        assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "s", "not truncated");
        assert!(configs.has("evil") && !configs.has("nothing"));

        let (made, new) = configs.sub_made("real").unwrap();
        assert!(new && !configs.sub_made("real").unwrap().1);
        std::io::Write::write_all(&mut made.create("f").unwrap(), b"x").unwrap();
        assert_eq!(std::fs::read_to_string(root.join("configs/real/f")).unwrap(), "x");
        assert!(made.create_new("f").is_err());
    }

    #[test]
    fn fresh_files_and_ensured_folders_refuse_what_stands_in_their_place() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = Folder::root(tmp.path()).unwrap();
        std::io::Write::write_all(&mut folder.create_fresh("new").unwrap(), b"one").unwrap();
        std::io::Write::write_all(&mut folder.create_fresh("new").unwrap(), b"2").unwrap();
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("new")).unwrap(),
            "2",
            "truncated when it was there"
        );
        nix::unistd::mkfifo(&tmp.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(folder.create_fresh("fifo").is_err(), "a FIFO is refused without blocking");
        std::os::unix::fs::symlink(tmp.path().join("new"), tmp.path().join("link")).unwrap();
        assert!(folder.create_fresh("link").is_err());
        assert_eq!(std::fs::read_to_string(tmp.path().join("new")).unwrap(), "2", "not written through");

        folder.ensure_sub("sub").unwrap();
        folder.ensure_sub("sub").unwrap();
        assert!(tmp.path().join("sub").is_dir());
        std::os::unix::fs::symlink(tmp.path().join("sub"), tmp.path().join("sublink")).unwrap();
        assert!(is_symlink_refusal(&folder.ensure_sub("sublink").unwrap_err()));
        assert!(is_symlink_refusal(&folder.ensure_sub("new").unwrap_err()));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(&tmp.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let folder = Folder::root(tmp.path()).unwrap();
        assert!(folder.open_regular("fifo").is_err());
    }
}
