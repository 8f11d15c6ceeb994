//! `exp-run --follow`: a live experiment whose configs come while it runs
//! (an optimiser's asks, another shell's adds), `--idle-exit`, and the
//! bounds that keep their meaning.

use crate::harness::*;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// An experiment whose command logs `NAME START_NS` to `TMP/starts.txt`
/// and ends at once; no config yet.
fn live_experiment(dir: &Dir) {
    let script = r#"echo "$EXP_NAME $(date +%s%N)" >> starts.txt; echo "{{\"x\": $EXP_PARAM_I}}""#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
}

/// When each config started, by the command's own clock, in ns since the epoch.
fn starts(dir: &Dir) -> std::collections::BTreeMap<String, u128> {
    let text = std::fs::read_to_string(dir.path().join("starts.txt")).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let (name, ns) = line.split_once(' ')?;
            Some((name.to_string(), ns.parse().ok()?))
        })
        .collect()
}

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

#[test]
fn a_following_runner_runs_configs_added_while_it_waits_and_says_it_waits() {
    let dir = Dir::new();
    live_experiment(&dir);
    let runner = Bg::run(&dir, &["--follow", "--progress", "never"]);
    wait_for("the runner to say it waits", || runner.stderr().contains("waiting"));
    let mut latencies = Vec::new();
    for i in 0..3 {
        let added_at = now_ns();
        dir.run("exp-add", &["--grid", &format!("i={i}")]).succeeds();
        let name = format!("c{i}");
        wait_for(&format!("{name} to start"), || starts(&dir).contains_key(&name));
        latencies.push(Duration::from_nanos((starts(&dir)[&name] - added_at) as u64));
    }
    wait_for("the three to be done", || by_name(&dir).values().all(|row| row["status"] == "done"));
    runner.signal(Signal::SIGINT);
    let out = runner.finish();
    out.fails_with(130);
    assert!(out.stderr.contains("3 done"), "{out:?}");
    // Latency is for the bench; here only that none waited for a long poll.
    eprintln!("note: --follow latencies from exp-add to start: {latencies:?}");
}

#[test]
fn idle_exit_ends_a_follow_with_nothing_running_and_nothing_todo() {
    let dir = Dir::new();
    live_experiment(&dir);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    let started = Instant::now();
    let out = run_bounded(&dir, "exp-run", &["--follow", "--idle-exit", "1s", "--progress", "never"]);
    out.succeeds();
    assert!(started.elapsed() >= Duration::from_secs(1), "it waited for the idle time");
    assert_eq!(starts(&dir).len(), 2);
    assert!(dir.exp().join("results_summary.csv").exists(), "every config done: the summary is written");
}

#[test]
fn idle_exit_is_exit_1_when_a_config_it_ran_failed() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "exit {i}"], &[]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    let out = run_bounded(&dir, "exp-run", &["--follow", "--idle-exit", "1s", "--progress", "never"]);
    out.fails_with(1);
    assert!(!dir.exp().join("results_summary.csv").exists(), "not every config is done");
}

#[test]
fn a_follow_stopped_by_sigterm_puts_its_running_config_back_and_exits_143() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    let runner = Bg::run(&dir, &["--follow", "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    runner.signal(Signal::SIGTERM);
    runner.finish().fails_with(143);
    assert_eq!(by_name(&dir)["c0"]["status"], "todo");
}

#[test]
fn limit_and_max_failures_end_a_follow() {
    let dir = Dir::new();
    live_experiment(&dir);
    dir.run("exp-add", &["--grid", "i=0..3"]).succeeds();
    run_bounded(&dir, "exp-run", &["--follow", "--limit", "2", "--progress", "never"]).succeeds();
    assert_eq!(starts(&dir).len(), 2, "--limit 2 started two, then the follow ended");

    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "exit 1"], &[]);
    dir.run("exp-add", &["--grid", "i=0..3"]).succeeds();
    let out = run_bounded(&dir, "exp-run", &["--follow", "--max-failures", "1", "--progress", "never"]);
    out.fails_with(1).stderr_has("--max-failures");
}

#[test]
fn a_follow_keeps_to_its_shard() {
    let dir = Dir::new();
    live_experiment(&dir);
    let runner = Bg::run(&dir, &["--follow", "--shard", "0/2", "--progress", "never"]);
    wait_for("the runner to say it waits", || runner.stderr().contains("waiting"));
    dir.run("exp-add", &["--grid", "i=0..9"]).succeeds();
    let mine: Vec<String> = (0..10).map(|i| format!("c{i}")).filter(|name| shard_of(name, 2) == 0).collect();
    wait_for("the shard's configs to run", || mine.iter().all(|name| starts(&dir).contains_key(name)));
    runner.signal(Signal::SIGINT);
    runner.finish().fails_with(130);
    let ran: Vec<String> = starts(&dir).into_keys().collect();
    assert_eq!(ran, mine, "only its shard");
}

#[test]
fn follow_with_names_or_exclusive_and_idle_exit_without_follow_are_usage_errors() {
    let dir = Dir::new();
    live_experiment(&dir);
    let before = dir.state();
    for args in [
        &["--follow", "--names", "-"][..],
        &["--follow", "--exclusive"],
        &["--idle-exit", "1s"],
        &["--follow", "--dry-run"],
        &["--follow", "--replay-all"],
    ] {
        dir.run("exp-run", args).fails_with(2);
    }
    assert_eq!(dir.state(), before);
}
