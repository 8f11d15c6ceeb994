//! Config folders made ahead of need. On ext4, making a file or a folder
//! costs far more for minutes after many files were deleted (it skips
//! recently freed inodes: `perf` puts most of a run's time in
//! `recently_deleted` then). A helper thread keeps a small stock of
//! empty config folders (`cache/`, empty logs and JSON files) in
//! `configs/.skeleton-RUNNER.N` (a dot: never a config's name), and a
//! config's first start renames one to `configs/NAME`, in the same folder:
//! the inodes are made off the loop that starts commands.
//!
//! The stock is only a head start: without one ready (the thread behind, a
//! rename refused), a folder is made as before. Each skeleton is named
//! after its runner, which removes what it leaves at its end; a runner
//! that makes some leaves a mark, `.exp/skeletons/RUNNER`, until then, so
//! the next runner removes what a dead one left (the only time it lists
//! `configs/`, which may hold millions of folders).

use crate::store::folder::Folder;
use crate::store::Store;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const PREFIX: &str = ".skeleton-";
/// In `.exp`: a mark per runner that makes skeletons.
const MARKS: &str = "skeletons";

#[derive(Debug)]
struct Shared {
    /// Skeletons made and not taken, newest first (the oldest goes first).
    ready: Mutex<Vec<String>>,
    /// Signalled when one is taken, or at the end.
    taken: Condvar,
    stop: AtomicBool,
}

#[derive(Debug)]
pub struct Skeletons {
    folder: Arc<Folder>,
    /// `.exp/skeletons`, and our mark in it.
    marks: Folder,
    mark: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Skeletons {
    /// Start keeping `stock` skeletons of `files` (and `cache/`) for
    /// runner `runner`, `budget` in all (the configs it may start: each
    /// one left is deleted at the end, which costs the next ones on ext4),
    /// after removing those of runners not in `alive`.
    /// None when its mark cannot be made (folders are then made as they
    /// are needed).
    pub fn start(
        store: &Store,
        runner: &str,
        alive: &HashSet<String>,
        files: Vec<&'static str>,
        (stock, budget): (usize, usize),
    ) -> Option<Skeletons> {
        let folder = Arc::new(Folder::root(store.dir()).ok()?.sub("configs").ok()?);
        let internal = Folder::root(&store.internal_dir()).ok()?;
        internal.ensure_sub(MARKS).ok()?;
        let marks = internal.sub(MARKS).ok()?;
        let dead: HashSet<String> =
            names_in(&marks).into_iter().filter(|mark| !alive.contains(mark)).collect();
        if !dead.is_empty() {
            let left: Vec<String> = names_in(&folder)
                .into_iter()
                .filter(|name| owner(name).is_some_and(|o| dead.contains(o)))
                .collect();
            left.iter().for_each(|name| remove_one(&folder, name));
            dead.iter().for_each(|mark| drop(marks.remove_file(mark)));
        }
        marks.create_new(runner).ok()?;
        let shared = Arc::new(Shared {
            ready: Mutex::new(Vec::new()),
            taken: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let (maker_folder, maker_shared, prefix) =
            (folder.clone(), shared.clone(), format!("{PREFIX}{runner}."));
        let thread = std::thread::Builder::new()
            .name("skeletons".into())
            .spawn(move || make(&maker_folder, &maker_shared, &prefix, &files, (stock, budget)))
            .ok()?;
        Some(Skeletons { folder, marks, mark: runner.to_string(), shared, thread: Some(thread) })
    }

    /// Move a ready skeleton to `name` in `configs`; false when none is
    /// ready or `name` is there already (or the move is refused).
    pub fn place(&self, configs: &Folder, name: &str) -> bool {
        let Some(skeleton) = self.shared.ready.lock().ok().and_then(|mut ready| ready.pop()) else {
            return false;
        };
        self.shared.taken.notify_one();
        let flags = rustix::fs::RenameFlags::NOREPLACE;
        match rustix::fs::renameat_with(self.folder.fd(), skeleton.as_str(), configs.fd(), name, flags) {
            Ok(()) => true,
            Err(_) => {
                // Kept for the next config, or removed at the end.
                if let Ok(mut ready) = self.shared.ready.lock() {
                    ready.push(skeleton);
                }
                false
            }
        }
    }
}

impl Drop for Skeletons {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.taken.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let ours: Vec<String> = self.shared.ready.lock().map(|ready| ready.clone()).unwrap_or_default();
        ours.iter().for_each(|name| remove_one(&self.folder, name));
        let _ = self.marks.remove_file(&self.mark);
    }
}

/// The runner whose skeleton `name` is (`.skeleton-RUNNER.N`); None for
/// a config's folder.
fn owner(name: &str) -> Option<&str> {
    name.strip_prefix(PREFIX)?.rsplit_once('.').map(|(runner, _)| runner)
}

/// Keep `stock` skeletons ready until told to stop, `budget` in all.
fn make(folder: &Folder, shared: &Shared, prefix: &str, files: &[&str], (stock, budget): (usize, usize)) {
    // Signals are the loop's: none interrupts this thread's calls.
    let _ = nix::sys::signal::pthread_sigmask(
        nix::sys::signal::SigmaskHow::SIG_BLOCK,
        Some(&nix::sys::signal::SigSet::all()),
        None,
    );
    let mut made = 0usize;
    while made < budget {
        let Ok(ready) = shared.ready.lock() else { return };
        let Ok((ready, _)) = shared.taken.wait_timeout_while(ready, Duration::from_secs(1), |ready| {
            ready.len() >= stock && !shared.stop.load(Ordering::SeqCst)
        }) else {
            return;
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if ready.len() >= stock {
            continue;
        }
        drop(ready);
        let name = format!("{prefix}{made}");
        made += 1;
        if make_one(folder, &name, files).is_err() {
            // A full disk, a folder gone: folders are made as needed.
            remove_one(folder, &name);
            return;
        }
        match shared.ready.lock() {
            Ok(mut ready) => ready.insert(0, name),
            Err(_) => return,
        }
    }
}

fn make_one(folder: &Folder, name: &str, files: &[&str]) -> std::io::Result<()> {
    let (skeleton, _) = folder.sub_made(name)?;
    skeleton.ensure_sub(crate::store::config_files::CACHE)?;
    for file in files {
        skeleton.create_new(file)?;
    }
    Ok(())
}

/// The names in a folder (best effort).
fn names_in(folder: &Folder) -> Vec<String> {
    match std::fs::read_dir(folder.path()) {
        Ok(entries) => entries.flatten().filter_map(|e| e.file_name().into_string().ok()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Remove one skeleton: its files, `cache/` (empty: nothing ran in it), itself.
fn remove_one(folder: &Folder, name: &str) {
    let Ok(skeleton) = folder.sub(name) else { return };
    if let Ok(entries) = std::fs::read_dir(skeleton.path()) {
        for entry in entries.flatten() {
            if let Some(file) = entry.file_name().to_str() {
                if skeleton.remove_file(file).is_err() {
                    let _ = rustix::fs::unlinkat(skeleton.fd(), file, rustix::fs::AtFlags::REMOVEDIR);
                }
            }
        }
    }
    let _ = rustix::fs::unlinkat(folder.fd(), name, rustix::fs::AtFlags::REMOVEDIR);
}
