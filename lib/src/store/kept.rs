//! Journals that folds replaced, kept for the next few folds as
//! `.exp/journal.EPOCH.jsonl`, for watchers (`exp-status --watch`) only: a
//! watcher that read the journal up to some line before a fold reads the
//! events it had not seen from here, so an attempt that ended and was
//! retried between two of its looks is not lost in the fold.
//!
//! Derived and best effort: never applied to the state by anyone, written
//! without fsync (a watcher reads them while it lives, a crash loses
//! nothing that was ever needed again), each checked against the epoch
//! and experiment it names before it is read. One that is missing or
//! unreadable only means the watcher sees each config's record as the fold
//! left it.

use crate::store::atomic::no_follow;
use crate::store::folder::Folder;
use crate::store::journal::{Event, Journal, Owner};
use std::io::{Read, Write};
use std::path::Path;

/// How many folds a kept journal outlives: a watcher more folds behind
/// (suspended, or slowed by a machine far too busy) may miss an ending
/// that was followed by a retry before one of them.
const KEEP: u64 = 8;

fn name(epoch: u64) -> String {
    format!("journal.{epoch}.jsonl")
}

/// Keep `journal` (of epoch `epoch`, about to be restarted by a fold) in
/// the experiment `dir`'s `.exp`, and forget the one kept `KEEP` folds ago.
/// Must hold the exclusive lock, so that no reader sees it half written.
pub fn keep(dir: &Path, journal: &Path, epoch: u64) -> std::io::Result<()> {
    let folder = Folder::walk(dir, &[".exp"])?;
    if let Some(old) = epoch.checked_sub(KEEP) {
        let _ = folder.remove_file(&name(old));
    }
    let mut bytes = Vec::new();
    let file = no_follow().read(true).open(journal)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    (&file).read_to_end(&mut bytes)?;
    folder.create(&name(epoch))?.write_all(&bytes)
}

/// The events a reader at byte `offset` of `owner`'s journal has not read,
/// up to the fold that started the journal of epoch `now`: the rest of its
/// journal, then the whole of each kept one after it, in order. Those that
/// cannot be read (forgotten, damaged, another experiment's) are skipped.
pub fn unread(internal: &Path, owner: &Owner, offset: u64, now: u64) -> Vec<Event> {
    let mut events = Vec::new();
    // Only the last KEEP are kept.
    for epoch in owner.epoch.max(now.saturating_sub(KEEP))..now {
        let of = Owner { epoch, experiment: owner.experiment.clone() };
        let from = if epoch == owner.epoch { offset } else { 0 };
        if let Ok(read) = Journal::read(&internal.join(name(epoch)), &of, from) {
            events.extend(read.events);
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use crate::model::Status;
    use crate::store::journal::{apply, Event};
    use crate::store::tests::{event, store_with};
    use crate::store::{Changes, Store};

    #[test]
    fn a_watcher_behind_a_fold_reads_what_it_missed_from_the_kept_journal() {
        let (tmp, mut watcher) = store_with(&["a", "b"]);
        let (_, mut cursor) = watcher.read().unwrap();
        let mut writer = Store::open(&tmp.path().join("exp")).unwrap();
        let lock = writer.lock().unwrap();
        let (mut experiment, mut writer_cursor) = writer.load(&lock).unwrap();
        let events = [event("a", Status::Running), event("a", Status::Failed), event("a", Status::Running)];
        // A writer applies its own events in memory.
        writer.append(&lock, &mut writer_cursor, &events).unwrap();
        apply(&mut experiment, events.to_vec());
        // Two folds, the second with a journal of its own.
        writer_cursor = writer.fold(&lock, &mut experiment).unwrap();
        writer.append(&lock, &mut writer_cursor, &[event("b", Status::Running)]).unwrap();
        apply(&mut experiment, vec![event("b", Status::Running)]);
        writer.fold(&lock, &mut experiment).unwrap();
        let mut after = writer.load(&lock).unwrap().1;
        writer.append(&lock, &mut after, &[event("a", Status::Done)]).unwrap();
        drop(lock);

        let lock = watcher.lock_shared().unwrap();
        let Changes::Rewritten { unread, state, events } = watcher.changes(&lock, &mut cursor).unwrap()
        else {
            panic!("two folds rewrote the state file")
        };
        let statuses =
            |events: &[Event]| events.iter().map(|e| (e.name.clone(), e.config.status)).collect::<Vec<_>>();
        let (a, b) = ("a".to_string(), "b".to_string());
        assert_eq!(
            statuses(&unread),
            [
                (a.clone(), Status::Running),
                (a.clone(), Status::Failed),
                (a.clone(), Status::Running),
                (b, Status::Running)
            ]
        );
        assert_eq!(state.configs["a"].status(), Status::Running);
        assert_eq!(statuses(&events), [(a, Status::Done)]);
        // A plain refresh reads no kept journal, and the cursor is current.
        assert!(matches!(watcher.changes(&lock, &mut cursor).unwrap(), Changes::Events(e) if e.is_empty()));
    }

    #[test]
    fn a_fold_keeps_the_journals_of_the_last_folds_only() {
        let (tmp, mut store) = store_with(&["a"]);
        let lock = store.lock().unwrap();
        let (mut experiment, mut cursor) = store.load(&lock).unwrap();
        for _ in 0..super::KEEP + 3 {
            store.append(&lock, &mut cursor, &[event("a", Status::Running)]).unwrap();
            cursor = store.fold(&lock, &mut experiment).unwrap();
        }
        let mut kept: Vec<String> = std::fs::read_dir(tmp.path().join("exp/.exp"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("journal.") && name != "journal.jsonl")
            .collect();
        kept.sort_by_key(|name| name.split('.').nth(1).unwrap().parse::<u64>().unwrap());
        let epochs = (experiment.journal_epoch - super::KEEP..experiment.journal_epoch).map(super::name);
        assert_eq!(kept, epochs.collect::<Vec<_>>());
    }
}
