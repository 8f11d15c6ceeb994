//! The git facts of the work tree commands run in (commit, branch, changes against HEAD), read with the `git` command, and read again only when HEAD or the index changes.
//!
//! Every git command is run with `-c safe.directory=*` (a repository owned
//! by another Unix user is read, not refused as "dubious ownership") and
//! `--no-optional-locks` (reading never rewrites the index, which would
//! look like a change and cost a second reading). A repository without git
//! installed, or outside any work tree, has no facts: `None`, never an error.

use crate::error::{Error, Result};
use crate::report::first_few;
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
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

    /// What git says now. A git command that fails leaves its fact at its
    /// "nothing known" value (an unreadable diff: not dirty, no patch).
    pub fn facts(&self) -> Facts {
        let head_ref = self.line(&["symbolic-ref", "-q", "HEAD"]);
        let commit = self.line(&["rev-parse", "-q", "--verify", "HEAD^{commit}"]);
        let branch = head_ref.as_ref().map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_string());
        let (dirty, patch) = match commit {
            Some(_) => {
                let diff = self.output(&["diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"]);
                let diff = diff.unwrap_or_default();
                (!diff.is_empty(), (!diff.is_empty()).then(|| Patch::new(diff)))
            }
            // Before the first commit, anything in the index differs from
            // the nothing that HEAD holds; there is no HEAD to diff against.
            None => (self.output(&["ls-files", "-z"]).is_some_and(|files| !files.is_empty()), None),
        };
        let untracked = self
            .output(&[
                "ls-files",
                "--others",
                "--exclude-standard",
                "--directory",
                "--no-empty-directory",
                "-z",
            ])
            .map_or(0, |list| list.iter().filter(|&&b| b == 0).count() as u64);
        Facts { commit, branch, dirty, untracked, patch, head_ref }
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

    /// What changes when HEAD moves or the index is written: HEAD itself,
    /// the ref it points to (loose, packed or in a reftable), the index.
    fn stamp(&self, head_ref: Option<&str>) -> Stamp {
        let of = |path: PathBuf| {
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.ino(), m.size(), m.mtime(), m.mtime_nsec(), m.ctime_nsec()))
        };
        Stamp([
            of(self.git_dir.join("HEAD")),
            of(self.git_dir.join("index")),
            head_ref.and_then(|r| safe_ref_path(r)).and_then(|r| of(self.common_dir.join(r))),
            of(self.common_dir.join("packed-refs")),
            of(self.common_dir.join("reftable/tables.list")),
        ])
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

/// `git -c safe.directory=* --no-optional-locks ARGS` in `dir`, its output captured.
fn git(dir: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new("git")
        .args(["-c", "safe.directory=*", "--no-optional-locks"])
        .args(args.iter().map(OsStr::new))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
}

/// The files whose change means the facts may have changed, as `stat` saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp([Option<FileStamp>; 5]);

/// One file's inode, size, mtime (seconds, nanoseconds) and ctime nanoseconds.
type FileStamp = (u64, u64, i64, i64, i64);

/// A work tree's facts, kept, and read again only when its stamp changes.
#[derive(Debug)]
pub struct Watched {
    repo: Repo,
    stamp: Stamp,
    facts: Facts,
}

impl Watched {
    /// Read the facts of `repo` now.
    pub fn new(repo: Repo) -> Watched {
        let head_ref = repo.line(&["symbolic-ref", "-q", "HEAD"]);
        let (stamp, facts) = read(&repo, head_ref);
        Watched { repo, stamp, facts }
    }

    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Look whether HEAD or the index changed (a few `stat` calls), and
    /// if so read the facts again; whether they were read again.
    pub fn refresh(&mut self) -> bool {
        if self.repo.stamp(self.facts.head_ref.as_deref()) == self.stamp {
            return false;
        }
        (self.stamp, self.facts) = read(&self.repo, self.facts.head_ref.clone());
        true
    }
}

/// The stamp, then the facts: a change made while they are read shows in
/// the next stamp, so it is read again then, never missed. The stamp
/// watches the ref HEAD points to: if HEAD moved to another ref (a
/// checkout), they are read once more, watching that one.
fn read(repo: &Repo, head_ref: Option<String>) -> (Stamp, Facts) {
    let mut watched = head_ref;
    loop {
        let stamp = repo.stamp(watched.as_deref());
        let facts = repo.facts();
        if facts.head_ref == watched {
            return (stamp, facts);
        }
        watched = facts.head_ref.clone();
        if watched.is_none() {
            return (stamp, facts);
        }
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
