//! A fault-injection soak: runners SIGKILLed and SIGTERMed at random
//! moments and restarted (several at once), configs added and removed
//! while they work, `exp-status --json` polled throughout. Seeded, so a
//! failure replays (`EXP_SOAK_SEED`).
//!
//! The state is big enough that exp keeps changes in the journal and folds
//! them in only now and then. Invariants: the state always loads and parses; at the end every config
//! is done, none ran concurrently with itself (each command holds a lock
//! on its config while it runs and records any overlap), none was run to
//! its end twice beyond what the kills can explain, and every done config
//! kept its own result.
//!
//! The CI size runs in about a minute; `cargo test --test integration
//! soak_long -- --ignored` runs the long one (`EXP_SOAK_KILLS`,
//! `EXP_SOAK_CONFIGS` override both sizes).

use crate::harness::*;
use nix::sys::signal::Signal;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), so a seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Each command locks its config's lock file for as long as it runs (an
/// overlap is recorded if the lock is busy), logs its start and its end,
/// sleeps a little, and leaves a result naming itself.
const COMMAND: &str = r#"exec 9>"locks/$EXP_NAME"
if ! flock -n 9; then echo "$EXP_NAME" >> overlaps; exit 3; fi
echo "$EXP_NAME" >> starts
sleep "0.0$EXP_PARAM_NAP"
printf '{{"name":"%s","i":%s}}\n' "$EXP_NAME" "$EXP_PARAM_I" > "$EXP_RESULT"
echo "$EXP_NAME" >> ends"#;

struct Sizes {
    configs: u64,
    kills: u64,
    runners: usize,
    jobs: usize,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn soak_ci() {
    soak(Sizes {
        configs: env_or("EXP_SOAK_CONFIGS", 400),
        kills: env_or("EXP_SOAK_KILLS", 40),
        runners: 3,
        jobs: 3,
    });
}

#[test]
#[ignore = "the long soak (minutes): cargo test --test integration soak_long -- --ignored"]
fn soak_long() {
    soak(Sizes {
        configs: env_or("EXP_SOAK_CONFIGS", 1500),
        kills: env_or("EXP_SOAK_KILLS", 250),
        runners: 3,
        jobs: 3,
    });
}

/// Lines of a log file in the temp dir, counted.
fn counted(dir: &Dir, file: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(dir.path().join(file)).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

/// Padding in every config, so the state passes the size past which exp
/// stops rewriting it on every change: added configs and endings then wait
/// in the journal, folds come mid-run, counts come from the index.
const PAD: usize = 1200;

fn add(dir: &Dir, from: u64, to: u64, rng: &mut Rng) -> BTreeSet<String> {
    let pad = "p".repeat(PAD);
    let lines: String =
        (from..to).map(|i| format!("{{\"i\":{i},\"nap\":{},\"pad\":\"{pad}\"}}\n", rng.below(5))).collect();
    dir.run_stdin("exp-add", &["-f", "-"], &lines)
        .succeeds()
        .json_lines()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

fn runner(dir: &Dir, jobs: usize) -> Bg {
    Bg::run(dir, &["-j", &jobs.to_string(), "--progress", "never", "--kill-after", "2s"])
}

/// `exp-status --json` must always answer, with valid lines.
fn poll_status(dir: &Dir) -> Vec<Value> {
    let out = dir.run("exp-status", &["--json", "--stale-after", "10m"]);
    assert_eq!(out.code, Some(0), "exp-status failed mid-soak: {out:?}");
    out.json_lines()
}

fn soak(sizes: Sizes) {
    let seed = std::env::var("EXP_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!(
        "soak: seed {seed} (EXP_SOAK_SEED={seed} replays it), {} configs, {} kills",
        sizes.configs, sizes.kills
    );
    let mut rng = Rng(seed);
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("locks")).unwrap();
    dir.run("exp-init", &["--naming", "c{i}", "--shell", COMMAND]).succeeds();
    let first = sizes.configs * 2 / 3;
    let mut expected = add(&dir, 0, first, &mut rng);
    let mut next = first;
    let mut removed = BTreeSet::new();
    let mut runners: Vec<Bg> = (0..sizes.runners).map(|_| runner(&dir, sizes.jobs)).collect();
    let (mut kills, mut terms, mut polls) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    while kills < sizes.kills {
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        match rng.below(10) {
            0..=5 => {
                let mut victim = runners.swap_remove(rng.below(runners.len() as u64) as usize);
                if rng.below(4) == 0 {
                    victim.signal(Signal::SIGTERM);
                    terms += 1;
                } else {
                    victim.signal(Signal::SIGKILL);
                    kills += 1;
                }
                victim.wait_exit();
                // Restart one, or sometimes two at once.
                for _ in 0..1 + rng.below(2) {
                    if runners.len() < sizes.runners + 1 {
                        runners.push(runner(&dir, sizes.jobs));
                    }
                }
            }
            6 if next < sizes.configs => {
                let to = (next + 1 + rng.below(20)).min(sizes.configs);
                expected.extend(add(&dir, next, to, &mut rng));
                next = to;
            }
            7 => {
                // Remove a few configs that have not started yet.
                let rows = poll_status(&dir);
                let victims: Vec<&str> = rows
                    .iter()
                    .filter(|r| r["status"] == "todo" && r["attempts"] == 0 && rng.below(8) == 0)
                    .filter_map(|r| r["name"].as_str())
                    .take(3)
                    .collect();
                if !victims.is_empty() {
                    let out = dir.run_stdin("exp-clean", &["--names", "-"], &(victims.join("\n") + "\n"));
                    for line in out.succeeds().json_lines() {
                        removed.insert(line["name"].as_str().unwrap().to_string());
                    }
                }
            }
            _ => {
                poll_status(&dir);
                polls += 1;
            }
        }
        if runners.is_empty() {
            runners.push(runner(&dir, sizes.jobs));
        }
    }
    if next < sizes.configs {
        expected.extend(add(&dir, next, sizes.configs, &mut rng));
    }
    // Let the survivors and one fresh runner finish the work.
    runners.push(runner(&dir, sizes.jobs));
    for runner in runners {
        let out = runner.finish_within(Duration::from_secs(600));
        assert!(matches!(out.code, Some(0)), "a runner failed: {out:?}");
    }
    let elapsed = started.elapsed();

    let overlaps = counted(&dir, "overlaps");
    assert!(overlaps.is_empty(), "configs that ran twice at once: {overlaps:?}");
    let rows = poll_status(&dir);
    let by_name: BTreeMap<String, &Value> =
        rows.iter().map(|r| (r["name"].as_str().unwrap().to_string(), r)).collect();
    let wanted: BTreeSet<String> = expected.difference(&removed).cloned().collect();
    assert_eq!(by_name.keys().cloned().collect::<BTreeSet<_>>(), wanted, "the experiment's configs");
    let not_done: Vec<_> = by_name.iter().filter(|(_, r)| r["status"] != "done").map(|(n, _)| n).collect();
    assert!(not_done.is_empty(), "not done at the end: {not_done:?}");
    for row in dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines() {
        let name = row["name"].as_str().unwrap();
        assert_eq!(row["result"]["name"], name, "{name} lost or mixed up its result: {row}");
    }
    let ends = counted(&dir, "ends");
    let twice: usize = ends.values().filter(|&&n| n > 1).map(|n| n - 1).sum();
    // A config whose command finished just before its runner was killed,
    // its ending not yet recorded, runs again: at most one per busy slot.
    let window = (kills + terms) as usize * sizes.jobs;
    assert!(twice <= window, "{twice} configs ran to their end twice, more than {window} kills can explain");
    for name in removed.iter().filter(|n| ends.contains_key(*n)) {
        assert!(!by_name.contains_key(name), "{name} was removed yet is in the experiment");
    }
    eprintln!(
        "soak: {} configs, {kills} SIGKILLs and {terms} SIGTERMs of runners, {polls} status polls, {} removed, \
         {} rerun after a kill, 0 overlaps, 0 lost results, in {:.0?}",
        wanted.len(),
        removed.len(),
        twice,
        elapsed
    );
}
