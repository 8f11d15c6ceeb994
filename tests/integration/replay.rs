//! `exp-run`'s cache mode (`EXP_CACHE_MODE`, `EXP_CACHE_DIR`, `--no-cache`),
//! `--replay NAME` and `--replay-all` (foreground, exit codes, the state left
//! byte-identical), and `--setup` (its values in every command's
//! environment, `{worker}`, a failing setup).

use crate::harness::*;
use std::collections::BTreeMap;

/// `KEY=VALUE` words of a config's stdout.log.
fn words(dir: &Dir, name: &str) -> BTreeMap<String, String> {
    dir.config_file(name, "stdout.log")
        .split_whitespace()
        .filter_map(|word| word.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn log(dir: &Dir) -> Vec<String> {
    std::fs::read_to_string(dir.path().join("log.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------- cache mode ----------

#[test]
fn a_run_records_with_each_configs_own_cache_dir_and_no_cache_turns_it_off() {
    let dir = Dir::new();
    shell_experiment(
        &dir,
        2,
        r#"echo "mode=$EXP_CACHE_MODE cache=$EXP_CACHE_DIR"; test -d "$EXP_CACHE_DIR""#,
    );
    dir.run("exp-run", &["-j2"]).succeeds();
    for name in ["c0", "c1"] {
        let seen = words(&dir, name);
        assert_eq!(seen["mode"], "record");
        let expected = dir.config(name).join("cache");
        assert!(expected.is_dir(), "{expected:?}");
        let cache = dir.path().join(&seen["cache"]);
        assert_eq!(cache.canonicalize().unwrap(), expected.canonicalize().unwrap());
    }
    dir.run("exp-add", &["--grid", "i=2"]).succeeds();
    dir.run("exp-run", &["--no-cache"]).succeeds();
    assert_eq!(words(&dir, "c2")["mode"], "off");
}

// ---------- replay ----------

/// Records into its cache dir; a replay reads it back. c1 exits 3.
const RECORDING: &str = r#"echo "mode=$EXP_CACHE_MODE name=$EXP_NAME"
echo "$EXP_NAME $EXP_CACHE_MODE" >> log.txt
if [ "$EXP_CACHE_MODE" = record ]; then echo "recorded-by-$EXP_NAME" > "$EXP_CACHE_DIR/answer"
else echo "read=$(cat "$EXP_CACHE_DIR/answer")"; fi
echo "to stderr" >&2
test "$EXP_PARAM_I" != 1 || exit 3"#;

#[test]
fn replay_runs_a_config_in_the_foreground_reads_its_cache_and_changes_nothing() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, RECORDING);
    dir.run("exp-run", &["-j2"]).fails_with(1);
    let before = dir.state();
    let recorded = dir.read("exp/configs/c0/stdout.log");
    let rows = dir.run("exp-status", &["--json"]).succeeds().stdout.clone();

    let out = dir.run("exp-run", &["--replay", "c0"]);
    out.succeeds()
        .stdout_has("mode=replay name=c0") // the command's output on exp-run's stdout
        .stdout_has("read=recorded-by-c0") // reads what the run recorded
        .stdout_lacks("c1")
        .stdout_lacks("c2")
        .stderr_has("to stderr");

    assert_eq!(dir.state(), before, "experiment.yaml and the journal are untouched");
    assert_eq!(dir.read("exp/configs/c0/stdout.log"), recorded, "the recorded log stays");
    assert_eq!(dir.run("exp-status", &["--json"]).succeeds().stdout, rows);
    assert_eq!(log(&dir).last().unwrap(), "c0 replay");
}

#[test]
fn replay_exits_with_the_commands_exit_code() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, RECORDING);
    dir.run("exp-run", &["-j2"]).fails_with(1);
    assert_eq!(by_name(&dir)["c1"]["status"], "failed");
    let before = dir.state();
    let out = dir.run("exp-run", &["--replay", "c1"]);
    out.fails_with(3).stdout_has("mode=replay name=c1");
    dir.run("exp-run", &["--replay", "c2"]).succeeds();
    assert_eq!(dir.state(), before);
    assert_eq!(by_name(&dir)["c1"]["status"], "failed");
}

#[test]
fn replay_all_replays_every_config_that_ran_in_order_going_on_past_failures() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, RECORDING);
    dir.run("exp-run", &["-j2"]).fails_with(1);
    dir.run("exp-add", &["--grid", "i=3"]).succeeds();
    let ran = log(&dir).len();
    let before = dir.state();

    let out = dir.run("exp-run", &["--replay-all"]);
    out.fails_with(1);
    assert_eq!(log(&dir)[ran..], ["c0 replay", "c1 replay", "c2 replay"], "c3 never ran: not replayed");
    let replayed: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("mode=")).collect();
    assert_eq!(replayed, ["mode=replay name=c0", "mode=replay name=c1", "mode=replay name=c2"]);
    assert_eq!(dir.state(), before);
    assert_eq!(by_name(&dir)["c3"]["status"], "todo");

    // Without the failing config, every replay succeeds: exit 0.
    dir.run_stdin("exp-clean", &["--names", "-"], "c1\n").succeeds();
    let ran = log(&dir).len();
    dir.run("exp-run", &["--replay-all"]).succeeds();
    assert_eq!(log(&dir)[ran..], ["c0 replay", "c2 replay"]);
}

#[test]
fn an_unknown_replay_name_is_exit_2() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, RECORDING);
    dir.run("exp-run", &["--limit", "1"]).succeeds();
    let ran = log(&dir).len();
    let before = dir.state();
    let out = dir.run("exp-run", &["--replay", "nope"]);
    out.fails_with(2).stderr_has("nope").no_stdout();
    let out = dir.run("exp-run", &["--replay", "c0", "--replay", "nope"]);
    out.fails_with(2);
    assert_eq!(log(&dir).len(), ran, "nothing replayed");
    assert_eq!(dir.state(), before);
}

// ---------- setup ----------

#[test]
fn setup_values_and_the_worker_slot_reach_every_command() {
    let dir = Dir::new();
    shell_experiment(&dir, 6, r#"echo "X=$X Y=$Y worker={worker} W=$W EXP_WORKER=$EXP_WORKER""#);
    let out = dir.run("exp-run", &["-j2", "--setup", "echo X=1; echo Y=two", "--env", "W={worker}"]);
    out.succeeds();
    for i in 0..6 {
        let name = format!("c{i}");
        let seen = words(&dir, &name);
        assert_eq!(seen["X"], "1", "{name}: {seen:?}");
        assert_eq!(seen["Y"], "two", "{name}: {seen:?}");
        let worker = &seen["worker"];
        assert!(worker == "0" || worker == "1", "{name}: {seen:?}");
        assert_eq!(&seen["W"], worker, "{name}: {seen:?}");
        assert_eq!(&seen["EXP_WORKER"], worker, "{name}: {seen:?}");
    }
}

#[test]
fn a_failing_setup_runs_nothing_and_exits_5() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, r#"echo "$EXP_NAME" >> log.txt"#);
    let before = dir.state();
    let out = dir.run("exp-run", &["-j2", "--setup", "echo 'setup broke here' >&2; exit 3"]);
    out.fails_with(5).stderr_has("setup broke here"); // the setup's stderr is shown
    assert!(log(&dir).is_empty(), "no command ran");
    let rows = by_name(&dir);
    assert!(rows.values().all(|row| row["status"] == "todo" && row["dir"].is_null()), "{rows:?}");
    for name in rows.keys() {
        assert!(!dir.config(name).exists(), "{name} has no folder");
    }
    assert_eq!(dir.state(), before);
}

#[test]
fn a_stop_signal_during_the_setup_stops_it_and_runs_nothing() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, r#"echo "$EXP_NAME" >> log.txt"#);
    let before = dir.state();
    // The setup's child (`sleep`) must go too, not only its shell.
    let setup = r#"sleep 60 & echo $! > setup.pid; wait; echo X=1"#;
    let runner = Bg::run(&dir, &["--setup", setup, "--progress", "never"]);
    let sleeper = wait_pid(&dir, "setup.pid");
    runner.signal(nix::sys::signal::Signal::SIGTERM);
    let out = runner.finish();
    out.fails_with(143).stderr_has("during --setup");
    wait_for("the setup's child to be gone", || !alive(sleeper));
    assert!(log(&dir).is_empty(), "no command ran");
    assert_eq!(dir.state(), before);
}
