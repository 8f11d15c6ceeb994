//! `exp-run` under interruption and crashes: real signals to real processes.
//!
//! Every wait here polls a condition (a pid file written by the command, the
//! state seen by `exp-status`, a process vanishing from /proc); nothing sleeps
//! and hopes.

use crate::harness::*;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

// ---------- helpers ----------

/// Configs `c0..c{n-1}` whose command logs its name to `TMP/runs.txt`; the
/// first `fast` exit at once, the others (until `TMP/quick` exists) write
/// their shell's pid to `TMP/pids/NAME.sh` and a child's to `NAME.child`,
/// then block on that child (`sleep 30`), which dies of SIGTERM.
fn blocking_experiment(dir: &Dir, n: usize, fast: usize) -> Vec<String> {
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    let script = format!(
        r#"echo "$EXP_NAME" >> runs.txt
if [ "$EXP_PARAM_I" -lt {fast} ] || [ -e quick ]; then exit 0; fi
sleep 30 & echo $! > "pids/$EXP_NAME.child"
echo $$ > "pids/$EXP_NAME.sh"
wait"#
    );
    dir.init(&["--naming", "c{i}", "--shell", &script], &[]);
    let grid = format!("i=0..{}", n - 1);
    let names: Vec<String> = run_bounded(dir, "exp-add", &["--grid", &grid])
        .succeeds()
        .json_lines()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>());
    names
}

/// The configs whose blocking command has started, with (shell, child) pids.
fn started(dir: &Dir) -> BTreeMap<String, (i32, i32)> {
    let mut started = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path().join("pids")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sh") {
            if let Some(sh) = read_pid(&path) {
                let name = path.file_stem().unwrap().to_string_lossy().into_owned();
                let child = read_pid(&path.with_extension("child")).expect("child pid first");
                started.insert(name, (sh, child));
            }
        }
    }
    started
}

/// Wait until `running` blocking commands have started and `done` configs
/// are done; returns the started ones.
fn wait_until_busy(dir: &Dir, running: usize, done: usize) -> BTreeMap<String, (i32, i32)> {
    wait_for(&format!("{running} running and {done} done"), || {
        started(dir).len() == running && with_status(&by_name(dir), "done").len() == done
    });
    let started = started(dir);
    let rows = by_name(dir);
    for name in started.keys() {
        assert_eq!(rows[name]["status"], "running", "{name}: {rows:#?}");
    }
    started
}

fn wait_gone(started: &BTreeMap<String, (i32, i32)>) {
    for (name, (sh, child)) in started {
        wait_for(&format!("{name}'s command (pid {sh}) to die"), || !alive(*sh));
        wait_for(&format!("{name}'s child (pid {child}) to die"), || !alive(*child));
    }
}

/// The interrupted configs are todo with their start and interruption times;
/// nothing is failed or running; the never-started ones are untouched todo.
fn assert_interrupted(
    rows: &BTreeMap<String, Value>,
    interrupted: &BTreeSet<String>,
    done: &BTreeSet<String>,
) {
    assert!(with_status(rows, "failed").is_empty(), "{rows:#?}");
    assert!(with_status(rows, "running").is_empty(), "{rows:#?}");
    assert_eq!(&with_status(rows, "done"), done, "{rows:#?}");
    for (name, row) in rows {
        if interrupted.contains(name) {
            assert_eq!(row["status"], "todo", "{name}: {row:#}");
            assert!(row["interruption_time"].is_string(), "{name}: {row:#}");
            assert!(row["start_time"].is_string(), "{name}: {row:#}");
            assert!(row["end_time"].is_null(), "{name}: {row:#}");
        } else if !done.contains(name) {
            assert_eq!(row["status"], "todo", "{name}: {row:#}");
            assert!(row["start_time"].is_null(), "{name}: {row:#}");
            assert!(row["interruption_time"].is_null(), "{name}: {row:#}");
        }
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// The first stop signal mid-run: 128+N, interrupted configs back to todo,
/// every command (and its children) gone, and a word about the saved state.
fn interrupt_mid_run(signal: Signal) -> Dir {
    let dir = Dir::new();
    blocking_experiment(&dir, 5, 1);
    let runner = Bg::run(&dir, &["-j2", "--progress", "never", "--kill-after", "5s"]);
    let started = wait_until_busy(&dir, 2, 1);
    assert_eq!(started.keys().cloned().collect::<BTreeSet<_>>(), set(&["c1", "c2"]));
    runner.signal(signal);
    let out = runner.finish();
    out.fails_with(128 + signal as i32)
        .stderr_has("saved") // says the state was saved
        .no_stdout();
    wait_gone(&started);
    assert_interrupted(&by_name(&dir), &set(&["c1", "c2"]), &set(&["c0"]));
    dir
}

/// Finish an interrupted experiment: everything done, and only the
/// interrupted configs ran a second time.
fn resume(dir: &Dir, interrupted: &[&str]) {
    touch(dir, "quick");
    let out = run_bounded(dir, "exp-run", &["-j2", "--progress", "never"]);
    out.succeeds();
    let rows = by_name(dir);
    assert_eq!(with_status(&rows, "done").len(), rows.len(), "{rows:#?}");
    for (name, count) in runs(dir) {
        let expected = if interrupted.contains(&name.as_str()) { 2 } else { 1 };
        assert_eq!(count, expected, "{name} ran {count} time(s): {:?}", runs(dir));
    }
    assert_eq!(runs(dir).len(), rows.len());
}

// ---------- the first stop signal ----------

#[test]
fn sigint_mid_run_saves_todo_and_a_resume_finishes() {
    let dir = interrupt_mid_run(Signal::SIGINT);
    resume(&dir, &["c1", "c2"]);
}

#[test]
fn sigterm_mid_run_exits_143_with_configs_todo() {
    let dir = interrupt_mid_run(Signal::SIGTERM);
    resume(&dir, &["c1", "c2"]);
}

#[test]
fn sighup_mid_run_exits_129_with_configs_todo() {
    interrupt_mid_run(Signal::SIGHUP);
}

#[test]
fn slurm_style_sigterm_to_every_process_is_an_interruption_not_a_failure() {
    // scancel and Slurm's time limit signal every process of the job: the
    // commands may die of SIGTERM just before the runner hears its own.
    let dir = Dir::new();
    blocking_experiment(&dir, 4, 0);
    let runner = Bg::run(&dir, &["-j2", "--progress", "never", "--kill-after", "5s"]);
    let started = wait_until_busy(&dir, 2, 0);
    for (sh, _) in started.values() {
        killpg(Pid::from_raw(*sh), Signal::SIGTERM).unwrap();
    }
    runner.signal(Signal::SIGTERM);
    let out = runner.finish();
    out.fails_with(143);
    wait_gone(&started);
    let interrupted: BTreeSet<String> = started.keys().cloned().collect();
    assert_interrupted(&by_name(&dir), &interrupted, &BTreeSet::new());
}

#[test]
fn signals_that_come_while_the_runner_waits_for_the_lock_keep_their_order_and_count() {
    // Another tool holds the experiment's lock; meanwhile two configs end,
    // then Ctrl-C comes twice. The endings came first, so they stand, and
    // the second Ctrl-C kills at once rather than after --kill-after.
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    let script = r#"echo $$ > "pids/$EXP_NAME"
case {i} in
  1) while [ ! -e go ]; do sleep 0.05; done; exit 1;;
  2) while [ ! -e go ]; do sleep 0.05; done; echo '{{"loss": 2}}';;
  *) trap "" TERM; while :; do sleep 0.05; done;;
esac"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "i=1..3"]).succeeds();
    // -j 4 leaves a slot idle: the runner looks for work under the lock every second.
    let runner = Bg::run(&dir, &["-j4", "--progress", "never", "--kill-after", "120s"]);
    let pids: Vec<i32> =
        ["c1", "c2", "c3"].iter().map(|name| wait_pid(&dir, &format!("pids/{name}"))).collect();
    wait_for("the claims to show", || with_status(&by_name(&dir), "running").len() == 3);

    let lock = std::fs::File::open(dir.exp().join(".exp/lock")).expect("the lock file");
    lock.lock().expect("take the lock");
    std::thread::sleep(Duration::from_millis(1500)); // the runner now waits for it
    touch(&dir, "go");
    // Ended, though not reaped yet: the runner waits for the lock.
    wait_for("c1 and c2 to end", || !alive(pids[0]) && !alive(pids[1]));
    runner.signal(Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    runner.signal(Signal::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    lock.unlock().expect("release the lock");

    // Well within --kill-after: the second Ctrl-C was heard.
    let out = runner.finish_within(Duration::from_secs(60));
    out.fails_with(130).stderr_has("killing");
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "failed", "it failed before the stop: {rows:#?}");
    assert_eq!(rows["c1"]["exit_code"], 1, "{rows:#?}");
    assert_eq!(rows["c2"]["status"], "done", "it finished before the stop: {rows:#?}");
    assert_eq!(rows["c3"]["status"], "todo", "{rows:#?}");
}

// ---------- commands that will not stop ----------

/// One config whose command ignores SIGTERM (and so do its `sleep`s), after
/// writing its pid to `TMP/pids/c0.sh`.
fn stubborn_experiment(dir: &Dir) {
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    let script = r#"trap "" TERM
echo "$EXP_NAME" >> runs.txt
echo $$ > "pids/$EXP_NAME.sh"
while :; do sleep 0.1; done"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    run_bounded(dir, "exp-add", &["--grid", "i=0..1"]).succeeds();
}

fn stubborn_pid(dir: &Dir) -> i32 {
    wait_pid(dir, "pids/c0.sh")
}

#[test]
fn a_command_ignoring_sigterm_is_killed_after_kill_after() {
    let dir = Dir::new();
    stubborn_experiment(&dir);
    let runner = Bg::run(&dir, &["-j1", "--progress", "never", "--kill-after", "2s"]);
    let pid = stubborn_pid(&dir);
    wait_for("c0 running", || by_name(&dir)["c0"]["status"] == "running");
    let signalled = Instant::now();
    runner.signal(Signal::SIGINT);
    let out = runner.finish();
    let waited = signalled.elapsed();
    out.fails_with(130);
    assert!(
        waited >= Duration::from_millis(1900),
        "SIGKILL only after --kill-after 2s, not after {waited:?}"
    );
    wait_for("the stubborn command to die", || !alive(pid));
    let rows = by_name(&dir);
    assert_interrupted(&rows, &set(&["c0"]), &BTreeSet::new());
    assert_eq!(runs(&dir).len(), 1, "c1 never started");
}

#[test]
fn a_second_sigint_kills_at_once() {
    let dir = Dir::new();
    stubborn_experiment(&dir);
    let mut runner = Bg::run(&dir, &["-j1", "--progress", "never", "--kill-after", "60s"]);
    let pid = stubborn_pid(&dir);
    wait_for("c0 running", || by_name(&dir)["c0"]["status"] == "running");
    let before = runner.stderr().len();
    runner.signal(Signal::SIGINT);
    // The runner says it is stopping: the first SIGINT was handled.
    wait_for("the runner to react to the first SIGINT", || runner.stderr().len() > before);
    assert!(runner.exited().is_none(), "waits for --kill-after 60s");
    assert!(alive(pid), "the command ignores SIGTERM");
    let signalled = Instant::now();
    runner.signal(Signal::SIGINT);
    let out = runner.finish_within(Duration::from_secs(30));
    assert!(signalled.elapsed() < Duration::from_secs(30));
    out.fails_with(130);
    wait_for("the stubborn command to die", || !alive(pid));
    assert_interrupted(&by_name(&dir), &set(&["c0"]), &BTreeSet::new());
}

// ---------- crashes ----------

#[test]
fn sigkill_of_the_runner_kills_its_commands_and_loses_no_done_config() {
    let dir = Dir::new();
    blocking_experiment(&dir, 6, 2);
    let mut runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    let started = wait_until_busy(&dir, 2, 2);
    let done_before = with_status(&by_name(&dir), "done");
    assert_eq!(done_before, set(&["c0", "c1"]));
    runner.signal(Signal::SIGKILL);
    // Reap it, so its pid is gone as far as the next process can tell.
    let status = runner.wait_exit();
    assert!(status.code().is_none(), "killed: {status:?}");
    drop(runner);
    // The watchdog kills the dead runner's commands, children included.
    wait_gone(&started);
    // exp-status recovers the claims of the dead runner (same host, pid gone).
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    out.succeeds();
    let rows = out.rows_by_name();
    let interrupted: BTreeSet<String> = started.keys().cloned().collect();
    assert_eq!(interrupted, set(&["c2", "c3"]));
    assert_interrupted(&rows, &interrupted, &done_before);
    // A new runner finishes the rest and runs no done config again.
    resume(&dir, &["c2", "c3"]);
}

#[test]
fn the_next_runner_says_what_it_recovered_against_its_real_total() {
    let dir = Dir::new();
    blocking_experiment(&dir, 6, 2);
    sigkill_mid_run(&dir, 2, 2);
    touch(&dir, "quick");
    // Plain lines (stderr is no terminal), each with the run's counts.
    let out = run_bounded(&dir, "exp-run", &["-j2"]);
    out.succeeds();
    let line = out
        .stderr
        .lines()
        .find(|line| line.contains("runners that are gone"))
        .unwrap_or_else(|| panic!("the recovery is said: {out:?}"));
    // c2 and c3 recovered, c4 and c5 todo: 4 to run, none finished yet.
    assert!(line.contains("[0/4]"), "{line}");
}

/// Run with `jobs` slots until `jobs` commands run and `done` configs are
/// done, SIGKILL the runner, and wait until its commands are gone too.
fn sigkill_mid_run(dir: &Dir, jobs: usize, done: usize) {
    let mut runner = Bg::run(dir, &[&format!("-j{jobs}"), "--progress", "never"]);
    let started = wait_until_busy(dir, jobs, done);
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    drop(runner);
    wait_gone(&started);
}

#[test]
fn a_torn_journal_line_is_skipped_with_a_warning() {
    let dir = Dir::new();
    blocking_experiment(&dir, 4, 2);
    // SIGKILL, so the runner does not fold its journal at exit.
    sigkill_mid_run(&dir, 1, 2);
    let journal = dir.exp().join(".exp/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    assert!(
        text.lines().count() > 1 && text.contains("\"c1\""),
        "the journal holds the run's events: {text}"
    );
    // An interrupted write: a truncated event that would mark c3 done.
    let torn = r#"{"name":"c3","config":{"params":{"i":3},"status":"done","attempts":1"#;
    std::fs::write(&journal, format!("{text}{torn}")).unwrap();

    let out = run_bounded(&dir, "exp-status", &["--json"]);
    out.succeeds().stderr_has("torn"); // warns about the torn line
    let rows = out.rows_by_name();
    assert_eq!(rows.len(), 4);
    assert_interrupted(&rows, &set(&["c2"]), &set(&["c0", "c1"]));
    assert_eq!(rows["c3"]["status"], "todo");

    resume(&dir, &["c2"]);
    let after = run_bounded(&dir, "exp-status", &["--json"]);
    after.succeeds().stderr_lacks("torn");
}

#[test]
fn a_torn_journal_line_without_claims_to_recover() {
    // The torn line alone: exp-status has nothing to recover, so it only reads.
    let dir = Dir::new();
    blocking_experiment(&dir, 3, 3);
    let mut runner = Bg::run(&dir, &["-j1", "--progress", "never", "--limit", "2"]);
    wait_for("c0 and c1 done", || with_status(&by_name(&dir), "done").len() == 2);
    // It exits cleanly and folds: the journal holds its header alone.
    let status = runner.wait_exit();
    assert_eq!(status.code(), Some(0));
    drop(runner);
    let journal = dir.exp().join(".exp/journal.jsonl");
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    let torn = r#"{"name":"c2","config":{"params":{"i":2},"stat"#;
    std::fs::write(&journal, format!("{text}{torn}")).unwrap();
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    out.succeeds().stderr_has("torn");
    let rows = out.json_lines();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2]["status"], "todo");
    let out = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    out.succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    assert!(runs(&dir).values().all(|&n| n == 1), "{:?}", runs(&dir));
}

// ---------- a runner that stops on an error ----------

#[test]
fn a_runner_that_stops_on_an_error_takes_its_commands_with_it() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    // -j2 with one config: a free slot, so the runner reads the state again
    // about every second.
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    let pid = wait_running(&dir, &["c0"])[0];
    let _guard = KillOnDrop::Group(pid);
    // Someone breaks experiment.yaml: the runner stops with exit 3...
    let state = dir.exp().join("experiment.yaml");
    let good = std::fs::read(&state).unwrap();
    std::fs::write(&state, "configs: [[[\n").unwrap();
    let out = runner.finish();
    out.fails_with(3);
    // ...and must not leave c0's command running on its own: once the file
    // is fixed, c0's claim is recovered as todo and a new runner would run
    // it a second time, at once.
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(&state, good).unwrap();
    let rows = by_name(&dir);
    assert!(
        !alive(pid),
        "c0's command outlived its runner, yet exp-status shows c0 {}",
        rows["c0"]["status"]
    );
}
