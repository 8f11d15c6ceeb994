//! The git facts of the work tree commands run in (commit, branch, changes against HEAD), read with the `git` command, and read again only when HEAD or the index changes.
//!
//! Every git command is run with `-c safe.directory=*` (a repository owned
//! by another Unix user is read, not refused as "dubious ownership") and
//! `--no-optional-locks` (reading never rewrites the index, which would
//! look like a change and cost a second reading). A repository without git
//! installed, or outside any work tree, has no facts: `None`, never an error.

use crate::error::{Error, Result};
use crate::report::first_few;
use rustix::fs::{AtFlags, Mode, OFlags};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A git work tree, found from a directory inside it.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Where the git commands run (the experiment's workdir).
    dir: PathBuf,
    /// Its git directory: `.git`, or `.git/worktrees/NAME` for a linked
    /// work tree (whose `.git` is a file).
    git_dir: PathBuf,
    /// The directory shared by every work tree of the repository: refs, packed-refs.
    common_dir: PathBuf,
}

/// What git says of a work tree at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// HEAD's commit; None before the first commit.
    pub commit: Option<String>,
    /// The branch HEAD is on (`main`); None when HEAD is detached.
    pub branch: Option<String>,
    /// Whether tracked files differ from HEAD (staged or not).
    pub dirty: bool,
    /// Untracked paths, as `git status` counts them: a folder holding only
    /// untracked files counts once; ignored files do not count.
    pub untracked: u64,
    /// `git diff HEAD --no-color --no-ext-diff --binary` when it is not empty.
    pub patch: Option<Patch>,
    /// The ref HEAD points to (`refs/heads/main`), to watch for new commits.
    head_ref: Option<String>,
}

impl Facts {
    /// The facts `git status --porcelain=v2 --branch -z` tells (all but the
    /// patch): a `1`, `2` or `u` entry is a tracked file that differs from
    /// HEAD or the index, a `?` entry an untracked path.
    fn from_status(status: &[u8]) -> Facts {
        let mut facts =
            Facts { commit: None, branch: None, dirty: false, untracked: 0, patch: None, head_ref: None };
        let mut fields = status.split(|&b| b == 0);
        while let Some(field) = fields.next() {
            let text = String::from_utf8_lossy(field);
            if let Some(oid) = text.strip_prefix("# branch.oid ") {
                facts.commit = (oid != "(initial)").then(|| oid.to_string());
            } else if let Some(head) = text.strip_prefix("# branch.head ") {
                if head != "(detached)" {
                    facts.branch = Some(head.to_string());
                    facts.head_ref = Some(format!("refs/heads/{head}"));
                }
            } else if text.starts_with("2 ") {
                // A rename or copy: the path it came from is the next field.
                fields.next();
                facts.dirty = true;
            } else if text.starts_with("1 ") || text.starts_with("u ") {
                facts.dirty = true;
            } else if text.starts_with("? ") {
                facts.untracked += 1;
            }
        }
        facts
    }
}

/// The changes of a dirty work tree against HEAD, and the sha256 that names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Lowercase hex sha256 of `text`.
    pub sha256: String,
    pub text: Vec<u8>,
}

impl Patch {
    pub fn new(text: Vec<u8>) -> Patch {
        Patch { sha256: sha256_hex(&text), text }
    }
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Why git could not tell anything about a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRepo {
    /// Not inside a git work tree (or inside a `.git` folder, or a bare repository).
    Outside,
    /// The `git` command could not be run.
    NoGit(String),
}

impl Repo {
    /// The work tree `dir` is in, by `git rev-parse` (asked once).
    pub fn find(dir: &Path) -> Result<Repo, NoRepo> {
        let out = git(dir, &["rev-parse", "--is-inside-work-tree", "--absolute-git-dir", "--git-common-dir"])
            .map_err(|err| NoRepo::NoGit(format!("cannot run git: {err}")))?;
        if !out.status.success() {
            return Err(NoRepo::Outside);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let (Some("true"), Some(git_dir), Some(common)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(NoRepo::Outside);
        };
        let git_dir = PathBuf::from(git_dir);
        // Relative to where git ran, in the git versions that print it so.
        let common_dir = match Path::new(common) {
            path if path.is_absolute() => path.to_path_buf(),
            path => dir.join(path),
        };
        Ok(Repo { dir: dir.to_path_buf(), git_dir, common_dir })
    }

    /// What git says now, from one `git status` (and `git diff HEAD` when
    /// tracked files changed). A git command that fails leaves its facts at
    /// their "nothing known" values (no commit, clean, no patch).
    pub fn facts(&self) -> Facts {
        let status = self
            .output(&["status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"])
            .unwrap_or_default();
        let mut facts = Facts::from_status(&status);
        if facts.dirty && facts.commit.is_some() {
            // Before the first commit there is no HEAD to diff against.
            let diff = self.output(&["diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"]);
            let diff = diff.unwrap_or_default();
            // A change staged then undone in the work tree: as HEAD has it.
            facts.dirty = !diff.is_empty();
            facts.patch = facts.dirty.then(|| Patch::new(diff));
        }
        facts
    }

    /// The tracked files that differ from HEAD (staged or not); Err when
    /// there is no commit yet, or git fails.
    pub fn changed_files(&self) -> Result<Vec<String>, String> {
        if self.line(&["rev-parse", "-q", "--verify", "HEAD^{commit}"]).is_none() {
            return Err("has no commit yet".into());
        }
        let out = git(&self.dir, &["diff", "HEAD", "--name-only", "-z", "--no-ext-diff"])
            .map_err(|err| format!("cannot run git: {err}"))?;
        if !out.status.success() {
            return Err(format!("git diff failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let names = out.stdout.split(|&b| b == 0).filter(|name| !name.is_empty());
        Ok(names.map(|name| String::from_utf8_lossy(name).into_owned()).collect())
    }

    /// The top folder of the work tree, for messages.
    pub fn top(&self) -> Option<String> {
        self.line(&["rev-parse", "--show-toplevel"])
    }

    fn output(&self, args: &[&str]) -> Option<Vec<u8>> {
        git(&self.dir, args).ok().filter(|out| out.status.success()).map(|out| out.stdout)
    }

    /// The first line git printed, if it succeeded and printed one.
    fn line(&self, args: &[&str]) -> Option<String> {
        let out = self.output(args)?;
        let line = String::from_utf8_lossy(&out).lines().next()?.trim().to_string();
        (!line.is_empty()).then_some(line)
    }
}

/// `--require-clean`: Ok when `dir` is in a git work tree whose tracked
/// files are as HEAD has them; else exit 2, saying why (the first few
/// changed files named).
pub fn require_clean(dir: &Path) -> Result<()> {
    let refuse = |why: String| Err(Error::usage(format!("--require-clean: {why}; nothing was run")));
    let repo = match Repo::find(dir) {
        Ok(repo) => repo,
        Err(NoRepo::Outside) => {
            return refuse(format!("the workdir {} is not in a git work tree", dir.display()))
        }
        Err(NoRepo::NoGit(why)) => return refuse(format!("{why} (the workdir is {})", dir.display())),
    };
    let top = repo.top().unwrap_or_else(|| dir.display().to_string());
    match repo.changed_files() {
        Ok(changed) if changed.is_empty() => Ok(()),
        Ok(changed) => refuse(format!(
            "{} tracked file(s) differ from HEAD in the git work tree {top}: {}; commit or stash them first",
            changed.len(),
            first_few(changed.into_iter(), 5)
        )),
        Err(why) => refuse(format!("the git work tree {top} {why}")),
    }
}

/// A ref name as a path under the common dir, if it is one (no `..`, not absolute).
fn safe_ref_path(name: &str) -> Option<&str> {
    let ok = name.starts_with("refs/") && !name.split('/').any(|part| part.is_empty() || part == "..");
    ok.then_some(name)
}

/// `git -c safe.directory=* -c core.fsmonitor=false --no-optional-locks ARGS`
/// in `dir`, its output captured: no daemon is started that would outlive
/// it (exp-run adopts orphans).
fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new("git")
        .args(["-c", "safe.directory=*", "-c", "core.fsmonitor=false", "--no-optional-locks"])
        .args(args.iter().map(OsStr::new))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
}

/// The files whose change means the facts may have changed, as `stat` saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<FileStamp>>);

/// One file's inode, size, mtime (seconds, nanoseconds) and ctime nanoseconds.
type FileStamp = (u64, i64, i64, i64, i64);

/// The git directory and the common directory, held open, so that a look
/// costs a `stat` of a name in each rather than a walk of a long path.
#[derive(Debug)]
struct Dirs {
    git: OwnedFd,
    common: OwnedFd,
}

impl Dirs {
    fn open(repo: &Repo) -> Option<Dirs> {
        let open = |path: &Path| {
            rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()
        };
        Some(Dirs { git: open(&repo.git_dir)?, common: open(&repo.common_dir)? })
    }

    /// What changes when HEAD moves or the index is written: HEAD itself,
    /// the index, and the ref HEAD is on: its loose file, else (packed by
    /// `git pack-refs`, or in a reftable) `packed-refs` and the reftable's list.
    // The stat fields' types differ from one platform to another.
    #[allow(clippy::unnecessary_cast)]
    fn stamp(&self, head_ref: Option<&str>) -> Stamp {
        let of = |dir: &OwnedFd, name: &str| {
            rustix::fs::statat(dir, name, AtFlags::empty()).ok().map(|st| {
                (
                    st.st_ino as u64,
                    st.st_size as i64,
                    st.st_mtime as i64,
                    st.st_mtime_nsec as i64,
                    st.st_ctime_nsec as i64,
                )
            })
        };
        let mut stamp = vec![of(&self.git, "HEAD"), of(&self.git, "index")];
        let loose = head_ref.and_then(safe_ref_path).and_then(|name| of(&self.common, name));
        stamp.push(loose);
        if loose.is_none() {
            stamp.push(of(&self.common, "packed-refs"));
            stamp.push(of(&self.common, "reftable/tables.list"));
        }
        Stamp(stamp)
    }
}

/// A work tree's facts, kept, and read again only when its stamp changes.
#[derive(Debug)]
pub struct Watched {
    repo: Repo,
    dirs: Option<Dirs>,
    stamp: Stamp,
    facts: Facts,
}

impl Watched {
    /// Read the facts of `repo` now.
    pub fn new(repo: Repo) -> Watched {
        let dirs = Dirs::open(&repo);
        // The ref HEAD is on, as its file says (a symbolic ref, the usual
        // case), so the first stamp watches it.
        let head = std::fs::read_to_string(repo.git_dir.join("HEAD")).unwrap_or_default();
        let head_ref = head.strip_prefix("ref: ").map(|name| name.trim().to_string());
        let (stamp, facts) = read(&repo, dirs.as_ref(), head_ref);
        Watched { repo, dirs, stamp, facts }
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Look whether HEAD or the index changed (three `stat` calls, in the
    /// usual case), and if so read the facts again; whether they were.
    pub fn refresh(&mut self) -> bool {
        let Some(dirs) = &self.dirs else { return false };
        if dirs.stamp(self.facts.head_ref.as_deref()) == self.stamp {
            return false;
        }
        (self.stamp, self.facts) = read(&self.repo, Some(dirs), self.facts.head_ref.clone());
        true
    }
}

/// The stamp, then the facts: a change made while they are read shows in
/// the next stamp, so it is read again then, never missed. The stamp
/// watches the ref HEAD is on: if HEAD moved to another ref (a checkout),
/// they are read once more, watching that one.
fn read(repo: &Repo, dirs: Option<&Dirs>, head_ref: Option<String>) -> (Stamp, Facts) {
    let mut watched = head_ref;
    let mut tries = 0;
    loop {
        let stamp = dirs.map_or(Stamp(Vec::new()), |dirs| dirs.stamp(watched.as_deref()));
        let facts = repo.facts();
        tries += 1;
        // Detached, or HEAD moving at every look: the next look reads again.
        if facts.head_ref == watched || facts.head_ref.is_none() || tries == 3 {
            return (stamp, facts);
        }
        watched = facts.head_ref.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `git ARGS` in `dir` with a test identity, asserting success.
    fn run(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn repo_with_commit() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), &["init", "-q"]);
        std::fs::write(tmp.path().join("a.txt"), "one\n").unwrap();
        run(tmp.path(), &["add", "a.txt"]);
        run(tmp.path(), &["commit", "-q", "-m", "first"]);
        tmp
    }

    fn has_git() -> bool {
        Command::new("git").arg("--version").output().is_ok_and(|out| out.status.success())
    }

    #[test]
    fn a_sha256_is_lowercase_hex() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn status_lines_tell_commit_branch_changes_and_untracked_paths() {
        let status = b"# branch.oid 3aaa5397\0# branch.head main\0\
            2 R. N... 100644 100644 100644 7898 7898 R100 new\0old\0? u/\0? z\0";
        let facts = Facts::from_status(status);
        assert_eq!((facts.commit.as_deref(), facts.branch.as_deref()), (Some("3aaa5397"), Some("main")));
        assert_eq!(
            (facts.dirty, facts.untracked, facts.head_ref.as_deref()),
            (true, 2, Some("refs/heads/main"))
        );
        let fresh = Facts::from_status(b"# branch.oid (initial)\0# branch.head (detached)\0? old\0");
        assert_eq!((fresh.commit, fresh.branch, fresh.dirty, fresh.untracked), (None, None, false, 1));
    }

    #[test]
    fn ref_names_never_leave_the_common_dir() {
        assert_eq!(safe_ref_path("refs/heads/main"), Some("refs/heads/main"));
        assert_eq!(safe_ref_path("refs/heads/../../x"), None);
        assert_eq!(safe_ref_path("/etc/passwd"), None);
        assert_eq!(safe_ref_path("HEAD"), None);
    }

    #[test]
    fn outside_a_work_tree_there_is_no_repo() {
        if !has_git() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(Repo::find(tmp.path()), Err(NoRepo::Outside)));
    }

    #[test]
    fn facts_of_a_clean_then_dirty_tree_and_a_new_commit_seen_by_stat() {
        if !has_git() {
            return;
        }
        let tmp = repo_with_commit();
        let repo = Repo::find(tmp.path()).unwrap();
        let mut watched = Watched::new(repo.clone());
        let first = watched.facts().clone();
        assert_eq!(first.commit.as_ref().map(String::len), Some(40));
        assert_eq!((first.branch.as_deref(), first.dirty, first.untracked), (Some("main"), false, 0));
        assert!(first.patch.is_none());
        assert!(!watched.refresh(), "nothing changed");

        std::fs::write(tmp.path().join("a.txt"), "two\n").unwrap();
        std::fs::create_dir(tmp.path().join("new")).unwrap();
        std::fs::write(tmp.path().join("new/x"), "").unwrap();
        std::fs::write(tmp.path().join("new/y"), "").unwrap();
        std::fs::write(tmp.path().join("b.txt"), "").unwrap();
        // A change to the work tree alone is not looked for...
        assert!(!watched.refresh());
        // ...one to the index is.
        run(tmp.path(), &["add", "a.txt"]);
        assert!(watched.refresh());
        let dirty = watched.facts().clone();
        assert!(dirty.dirty);
        assert_eq!(dirty.untracked, 2, "new/ counts once, b.txt once");
        let patch = dirty.patch.unwrap();
        assert!(String::from_utf8_lossy(&patch.text).contains("+two"));
        assert_eq!(patch.sha256, sha256_hex(&patch.text));
        assert_eq!(repo.changed_files().unwrap(), ["a.txt"]);

        run(tmp.path(), &["commit", "-q", "-m", "second"]);
        assert!(watched.refresh());
        assert_ne!(watched.facts().commit, first.commit);
        assert!(!watched.facts().dirty);

        run(tmp.path(), &["checkout", "-q", "--detach"]);
        assert!(watched.refresh());
        assert_eq!(watched.facts().branch, None);
    }

    #[test]
    fn a_linked_work_tree_is_watched_through_its_own_git_dir() {
        if !has_git() {
            return;
        }
        let tmp = repo_with_commit();
        let linked = tmp.path().join("linked");
        run(tmp.path(), &["worktree", "add", "-q", "-b", "side", linked.to_str().unwrap()]);
        assert!(linked.join(".git").is_file());
        let mut watched = Watched::new(Repo::find(&linked).unwrap());
        assert_eq!(watched.facts().branch.as_deref(), Some("side"));
        std::fs::write(linked.join("c.txt"), "c\n").unwrap();
        run(&linked, &["add", "c.txt"]);
        run(&linked, &["commit", "-q", "-m", "on side"]);
        assert!(watched.refresh());
        let head = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(&linked).output().unwrap();
        assert_eq!(watched.facts().commit.as_deref(), Some(String::from_utf8_lossy(&head.stdout).trim()));
    }

    #[test]
    fn before_the_first_commit_there_is_no_commit_and_no_patch() {
        if !has_git() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), &["init", "-q"]);
        let repo = Repo::find(tmp.path()).unwrap();
        let facts = repo.facts();
        assert_eq!((facts.commit, facts.dirty, facts.patch), (None, false, None));
        assert_eq!(facts.branch.as_deref(), Some("main"));
        assert!(repo.changed_files().is_err());
    }
}
