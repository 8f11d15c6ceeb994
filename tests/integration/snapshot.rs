//! `exp-snapshot` on real running commands: the folder it prints, `index.md`
//! and `NAME.status.txt` (logs' tails, the status file written on
//! `--signal`), `NAME.result.json`, `--json`, nothing running, and the state
//! left byte-identical.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Gated configs `c0..c{n-1}`. Each command runs `before`, then writes
/// its worker slot to `TMP/pids/NAME.worker`.
fn blocking(dir: &Dir, n: usize, before: &str) {
    gated_experiment(dir, n, &format!("{before}\necho \"$EXP_WORKER\" > \"pids/$EXP_NAME.worker\""));
}

fn worker_of(dir: &Dir, name: &str) -> u64 {
    dir.read(&format!("pids/{name}.worker")).trim().parse().unwrap()
}

/// The folder `exp-snapshot` printed (its only stdout line).
fn folder(dir: &Dir, out: &Out) -> PathBuf {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line, the folder: {out:?}");
    let path = dir.path().join(lines[0]);
    assert!(path.is_dir(), "{path:?} is a folder");
    path
}

/// The names of the files in `folder`, sorted.
fn files(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

#[test]
fn a_snapshot_lists_the_running_configs_with_their_logs_and_changes_nothing() {
    let dir = Dir::new();
    blocking(&dir, 3, r#"echo "out of $EXP_NAME"; echo "err of $EXP_NAME" >&2"#);
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    wait_running(&dir, &["c0", "c1"]);
    let before = dir.state();

    let out = dir.run("exp-snapshot", &[]);
    out.succeeds();
    let snapshot = folder(&dir, &out);
    assert!(snapshot.starts_with(dir.exp().join("snapshots")), "{snapshot:?}");
    assert_eq!(files(&snapshot), ["c0.status.txt", "c1.status.txt", "index.md"]);

    let index = read(&snapshot.join("index.md"));
    let host = hostname();
    for name in ["c0", "c1"] {
        let line = index
            .lines()
            .find(|line| line.contains(&format!("[{name}]")))
            .unwrap_or_else(|| panic!("{name} listed in index.md:\n{index}"));
        let worker = worker_of(&dir, name);
        assert!(line.contains(&format!("| {worker} |")), "worker {worker} in {line:?}");
        assert!(line.contains(&format!("| {host} |")), "host {host} in {line:?}");
        let status = read(&snapshot.join(format!("{name}.status.txt")));
        assert!(status.contains(&format!("out of {name}")), "stdout's tail: {status}");
        assert!(status.contains(&format!("err of {name}")), "stderr's tail: {status}");
    }
    // As a listed config (a runner's id may hold the letters "c2").
    assert!(!index.contains("[c2]"), "c2 is not running:\n{index}");

    assert_eq!(dir.state(), before, "experiment.yaml and the journal are untouched");
    release_runner(&dir, runner);
    assert!(by_name(&dir).values().all(|row| row["status"] == "done"));
}

#[test]
fn signal_usr1_puts_what_the_command_writes_to_its_status_file_in_the_snapshot() {
    let dir = Dir::new();
    blocking(&dir, 1, r#"trap 'echo "step $step" > "$EXP_STATUS_FILE"' USR1"#);
    let runner = Bg::run(&dir, &["--progress", "never"]);
    let pid = wait_running(&dir, &["c0"])[0];
    let before = dir.state();

    let out = dir.run("exp-snapshot", &["--signal", "USR1", "--wait", "10s"]);
    out.succeeds();
    let snapshot = folder(&dir, &out);
    let status = read(&snapshot.join("c0.status.txt"));
    let line = status
        .lines()
        .find(|line| line.starts_with("step "))
        .unwrap_or_else(|| panic!("the status file's text in c0.status.txt:\n{status}"));
    assert!(line["step ".len()..].parse::<u32>().is_ok(), "{line:?}");
    assert!(read(&snapshot.join("index.md")).contains("status written"));

    // The command trapped the signal and goes on.
    assert!(alive(pid), "c0's command was killed by the signal");
    assert_eq!(by_name(&dir)["c0"]["status"], "running");
    assert_eq!(dir.state(), before);
    release_runner(&dir, runner);
    assert_eq!(by_name(&dir)["c0"]["status"], "done", "not killed, not failed");
}

/// A signal a command does not trap would end it (or stop it): such a
/// command is left alone and the snapshot says why, so taking a snapshot
/// never kills a run that has not set up its handler yet.
#[test]
fn a_command_that_does_not_trap_the_signal_is_not_sent_it_and_runs_on() {
    let dir = Dir::new();
    blocking(
        &dir,
        2,
        r#"if [ "$EXP_NAME" = c0 ]; then trap 'echo "step $step" > "$EXP_STATUS_FILE"' USR1; fi"#,
    );
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    let pids = wait_running(&dir, &["c0", "c1"]);
    let before = dir.state();

    let lines =
        dir.run("exp-snapshot", &["--signal", "USR1", "--wait", "10s", "--json"]).succeeds().json_lines();
    let line =
        |name: &str| lines.iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("{name}: {lines:?}"));
    assert_eq!(line("c0")["signalled"], true, "{lines:?}");
    assert_eq!(line("c0")["status_updated"], true, "{lines:?}");
    assert_eq!(line("c1")["signalled"], false, "{lines:?}");
    let note = line("c1")["note"].as_str().unwrap_or_default().to_string();
    assert!(note.contains("does not trap SIGUSR1"), "{note:?}");
    let snapshot = dir.path().join(line("c1")["snapshot"].as_str().unwrap());
    let index = read(&snapshot.join("index.md"));
    let row = index.lines().find(|l| l.contains("[c1]")).unwrap_or_else(|| panic!("{index}"));
    assert!(row.contains("not signalled") && row.contains("does not trap SIGUSR1"), "{row}");

    assert!(pids.iter().all(|&pid| alive(pid)), "a command was killed by the snapshot");
    assert_eq!(dir.state(), before);
    release_runner(&dir, runner);
    assert!(by_name(&dir).values().all(|row| row["status"] == "done"), "not killed, not failed");
}

#[test]
fn json_gives_one_line_per_running_config() {
    let dir = Dir::new();
    blocking(&dir, 3, "");
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    let pids = wait_running(&dir, &["c0", "c1"]);
    let before = dir.state();

    let lines = dir.run("exp-snapshot", &["--json"]).succeeds().json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let snapshot = PathBuf::from(lines[0]["snapshot"].as_str().expect("the folder"));
    let snapshot = dir.path().join(snapshot);
    assert!(snapshot.join("index.md").is_file(), "{snapshot:?}");
    for (line, (name, pid)) in lines.iter().zip([("c0", pids[0]), ("c1", pids[1])]) {
        assert_eq!(line["name"], name, "{line}");
        assert_eq!(line["worker"], worker_of(&dir, name), "{line}");
        assert_eq!(line["host"], hostname(), "{line}");
        assert_eq!(line["pid"], pid, "{line}");
        assert_eq!(line["signalled"], false, "{line}");
        assert_eq!(dir.path().join(line["snapshot"].as_str().unwrap()), snapshot, "{line}");
        assert!(snapshot.join(format!("{name}.status.txt")).is_file());
    }
    assert_eq!(dir.state(), before);
    release_runner(&dir, runner);
}

#[test]
fn with_nothing_running_there_are_no_lines_and_the_index_says_so() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["true"]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    let before = dir.state();

    let out = dir.run("exp-snapshot", &["--json"]);
    out.succeeds().no_stdout();
    let folders: Vec<_> =
        std::fs::read_dir(dir.exp().join("snapshots")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert_eq!(files(&folders[0]), ["index.md"]);
    assert!(read(&folders[0].join("index.md")).contains("No config is running"));

    let out = dir.run("exp-snapshot", &[]);
    out.succeeds();
    let snapshot = folder(&dir, &out);
    assert_ne!(snapshot, folders[0], "a new folder each time");
    assert!(read(&snapshot.join("index.md")).contains("No config is running"));
    assert_eq!(dir.state(), before);
}

#[test]
fn a_running_config_with_a_result_gets_it_in_the_snapshot() {
    let dir = Dir::new();
    blocking(
        &dir,
        2,
        r#"if [ "$EXP_NAME" = c0 ]; then echo '{{"loss": 0.5, "step": 10}}' > "$EXP_RESULT"; fi"#,
    );
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    wait_running(&dir, &["c0", "c1"]);

    let out = dir.run("exp-snapshot", &[]);
    out.succeeds();
    let snapshot = folder(&dir, &out);
    assert_eq!(files(&snapshot), ["c0.result.json", "c0.status.txt", "c1.status.txt", "index.md"]);
    let result: Value = serde_json::from_str(&read(&snapshot.join("c0.result.json"))).unwrap();
    assert_eq!(result, json!({"loss": 0.5, "step": 10}));
    release_runner(&dir, runner);
}
