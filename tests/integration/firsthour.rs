//! The first hour of a researcher (issue 8): typos, fixes, grids, paths,
//! failures and stops, each seen the way a user sees them.
//!
//! Every test drives the real binaries in its own temp dir and asserts on
//! exit codes, stdout data, stderr messages and files. Waits poll a
//! condition (a file a command writes, a status, an open file descriptor);
//! nothing sleeps and hopes, and nothing asserts on timing.

use crate::harness::*;
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;

// ---------- helpers ----------

/// What a user sees of each config: (name, status, params, attempts).
fn configs(dir: &Dir) -> Vec<(String, String, Value, u64)> {
    dir.status()
        .into_iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap().to_string(),
                row["status"].as_str().unwrap().to_string(),
                row["params"].clone(),
                row["attempts"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn status_of(dir: &Dir, name: &str) -> String {
    by_name(dir)[name]["status"].as_str().unwrap().to_string()
}

/// Run `tool` on the experiment (by its absolute path) from the directory `cwd`.
fn run_from(dir: &Dir, cwd: &Path, tool: &str, args: &[&str]) -> Out {
    let mut cmd = dir.cmd(tool);
    cmd.current_dir(cwd).arg(dir.exp()).args(args).stdin(Stdio::null());
    Out::of(cmd.output().expect("spawn"))
}

/// A background runner of one gated config `c0`, once its command has started.
fn gated_runner(dir: &Dir) -> Bg {
    gated_experiment(dir, 1, "");
    let runner = Bg::run(dir, &["--progress", "never"]);
    wait_pid(dir, "pids/c0");
    runner
}

/// The same directory, both canonicalized.
fn same_dir(a: &str, b: &Path) -> bool {
    std::fs::canonicalize(a.trim()).unwrap() == std::fs::canonicalize(b).unwrap()
}

// ---------- a typo in the command ----------

#[test]
fn init_with_a_misspelled_program_warns_and_still_creates_the_experiment() {
    let dir = Dir::new();
    let out = dir.run("exp-init", &["--", "pyhton3", "train.py"]);
    out.succeeds().no_stdout().stderr_has("warning");
    out.stderr_has("\"pyhton3\" is not found"); // names the program
    assert!(dir.exp().join("experiment.yaml").is_file());
    let counts = dir.run("exp-status", &["--counts", "--json"]).succeeds().json_lines();
    assert_eq!(counts, [json!({"todo": 0, "running": 0, "done": 0, "failed": 0, "total": 0})]);
}

#[test]
fn fixing_the_typo_by_running_init_again_is_refused_with_a_hint_to_update() {
    let dir = Dir::new();
    dir.init(&[], &["pyhton3", "train.py"]);
    let before = dir.state_file();
    let out = dir.run("exp-init", &["--", "python3", "train.py"]);
    out.fails_with(2).stderr_has("command").stderr_has("--update"); // says how to fix it
    assert_eq!(dir.state_file(), before, "nothing changed");
}

#[test]
fn init_update_fixes_the_typo_and_keeps_every_config_and_its_status() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["pyhton3", "train.py", "--seed", "{i}"]);
    dir.run("exp-add", &["--grid", "i=0..2"]).succeeds();
    // The first config fails (the program is missing); the others stay todo.
    run_bounded(&dir, "exp-run", &["--limit", "1"]).fails_with(1);
    let before = configs(&dir);
    let statuses: Vec<&str> = before.iter().map(|(_, status, _, _)| status.as_str()).collect();
    assert_eq!(statuses, ["failed", "todo", "todo"], "{before:?}");

    let out = dir.run("exp-init", &["--update", "--", "python3", "train.py", "--seed", "{i}"]);
    out.succeeds().stderr_has("updated command").stderr_lacks("old command"); // no config was done
    assert_eq!(configs(&dir), before, "every config and its status kept");

    // The fixed command is the one that would run now.
    let planned = dir.run("exp-run", &["--dry-run", "--json", "--retry-failed"]).succeeds().json_lines();
    assert_eq!(planned.len(), 3, "{planned:?}");
    for line in &planned {
        let argv = line["argv"].as_array().unwrap();
        assert_eq!(argv[0], "python3", "{line}");
    }
}

#[test]
fn init_update_says_how_many_done_configs_ran_under_the_old_command() {
    let dir = Dir::new();
    let old = r#"echo old > "$EXP_CONFIG_DIR/which"; test "$1" -ne 1"#;
    dir.init(&["--naming", "c{i}"], &["sh", "-c", old, "sh", "{i}"]);
    dir.run("exp-add", &["--grid", "i=0..3"]).succeeds();
    run_bounded(&dir, "exp-run", &["--limit", "3"]).fails_with(1);
    let before = configs(&dir);
    let statuses: Vec<&str> = before.iter().map(|(_, status, _, _)| status.as_str()).collect();
    assert_eq!(statuses, ["done", "failed", "done", "todo"], "{before:?}");

    let new = r#"echo new > "$EXP_CONFIG_DIR/which"; test "$1" -ge 0"#;
    let out = dir.run("exp-init", &["--update", "--", "sh", "-c", new, "sh", "{i}"]);
    out.succeeds().stderr_has("2 done config(s) ran under the old command");
    out.stderr_has("--reset"); // says how to run them again
    assert_eq!(configs(&dir), before, "every config and its status kept");

    // The next run starts only the todo config, with the new command.
    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.config_file("c3", "which"), "new\n");
    assert_eq!(dir.config_file("c0", "which"), "old\n");
    assert_eq!(status_of(&dir, "c1"), "failed");
}

#[test]
fn init_update_while_a_runner_is_active_exits_4_and_changes_nothing() {
    let dir = Dir::new();
    let runner = gated_runner(&dir);
    let (state_before, journal_before) = (dir.state_file(), dir.journal());
    let out = dir.run("exp-init", &["--update", "--shell", "echo fixed"]);
    out.fails_with(4).stderr_has("runner is active");
    assert_eq!(dir.state_file(), state_before, "experiment.yaml untouched");
    assert_eq!(dir.journal(), journal_before, "journal untouched");
    release_runner(&dir, runner);
    assert_eq!(status_of(&dir, "c0"), "done");
    assert!(!dir.read("exp/experiment.yaml").contains("echo fixed"), "the old command stays");
}

#[test]
fn init_update_cannot_change_the_naming() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    let before = dir.state_file();
    let out = dir.run("exp-init", &["--update", "--naming", "run{i}", "--", "echo", "{i}", "again"]);
    out.fails_with(2).stderr_has("--naming");
    assert_eq!(dir.state_file(), before, "nothing changed");
}

#[test]
fn init_update_with_a_param_some_config_lacks_exits_2_naming_the_config() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["echo", "{i}"]);
    dir.run_stdin("exp-add", &[], "{\"i\":0,\"lr\":0.1}\n{\"i\":1}\n").succeeds();
    let before = dir.state_file();
    let out = dir.run("exp-init", &["--update", "--", "echo", "{i}", "--lr", "{lr}"]);
    out.fails_with(2)
        .stderr_has("config c1") // names the config
        .stderr_has("\"lr\"") // names the param
        .stderr_lacks("config c0");
    assert_eq!(dir.state_file(), before, "nothing changed");
}

#[test]
fn init_update_from_elsewhere_looks_for_the_program_where_commands_run() {
    let dir = Dir::new();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    script(&project, "train.sh", "#!/bin/sh\necho v1\n");
    script(&project, "train2.sh", "#!/bin/sh\necho v2\n");
    run_from(&dir, &project, "exp-init", &["--naming", "c{i}", "--", "./train.sh"]).succeeds();
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();

    // From the temp dir, not the project: the workdir stays the project's.
    let out = dir.run("exp-init", &["--update", "--", "./train2.sh"]);
    out.succeeds();
    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.config_file("c0", "stdout.log"), "v2\n", "the new script ran in the project");
    out.stderr_lacks("not found"); // ./train2.sh exists where commands run
}

// ---------- re-running done configs ----------

#[test]
fn listing_a_done_config_runs_nothing_and_says_it_was_skipped() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "echo {i} >> runs.txt"], &[]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.read("runs.txt"), "0\n1\n");

    let out = dir.run_stdin("exp-run", &["--names", "-"], "c0\n");
    out.succeeds();
    assert_eq!(dir.read("runs.txt"), "0\n1\n", "nothing ran");
    out.stderr_has("1 listed config(s) skipped: 1 done");
    assert_eq!(status_of(&dir, "c0"), "done");
}

#[test]
fn reset_of_a_done_config_reruns_it_as_attempt_2_keeping_the_first_logs() {
    let dir = Dir::new();
    let command = r#"echo "attempt $EXP_ATTEMPT"; echo "$EXP_NAME $EXP_ATTEMPT" >> runs.txt"#;
    dir.init(&["--naming", "c{i}", "--shell", command], &[]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).succeeds();

    let out = dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c0\n");
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1, "{out:?}");
    assert_eq!(lines[0]["name"], "c0");
    assert_eq!(lines[0]["action"], "reset");
    assert_eq!(lines[0]["status"], "done", "the status before");
    assert_eq!(status_of(&dir, "c0"), "todo");
    assert_eq!(status_of(&dir, "c1"), "done");

    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.read("runs.txt"), "c0 1\nc1 1\nc0 2\n", "only c0 ran again");
    assert_eq!(dir.config_file("c0", "stdout.log"), "attempt 2\n");
    assert_eq!(dir.config_file("c0", "stdout.1.log"), "attempt 1\n");
    let row = &by_name(&dir)["c0"];
    assert_eq!(row["status"], "done", "{row}");
    assert_eq!(row["attempts"], 2, "{row}");
}

// ---------- grids ----------

/// An experiment whose command records its argument `{KEY}` in
/// `arg` in its config folder; names are `KEY{KEY}`.
fn recording(dir: &Dir, key: &str) {
    let naming = format!("{key}{{{key}}}");
    let placeholder = format!("{{{key}}}");
    let record = r#"printf %s "$1" > "$EXP_CONFIG_DIR/arg""#;
    dir.init(&["--naming", &naming], &["sh", "-c", record, "sh", &placeholder]);
}

#[test]
fn a_decimal_range_with_a_step_gives_exact_values() {
    let dir = Dir::new();
    recording(&dir, "lr");
    let out = dir.run("exp-add", &["--grid", "lr=0.1..0.5:0.1"]);
    out.succeeds();
    assert!(!out.stdout.contains("0000000"), "no float noise: {}", out.stdout);
    let lines = out.json_lines();
    let values: Vec<Value> = lines.iter().map(|l| l["params"]["lr"].clone()).collect();
    assert_eq!(values, [json!(0.1), json!(0.2), json!(0.3), json!(0.4), json!(0.5)]);
    assert!(values.iter().all(Value::is_number), "JSON numbers: {values:?}");
    assert!(out.stdout.contains(r#""lr":0.3"#), "{}", out.stdout);

    run_bounded(&dir, "exp-run", &["-j2"]).succeeds();
    let names: Vec<String> = lines.iter().map(|l| l["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["lr0.1", "lr0.2", "lr0.3", "lr0.4", "lr0.5"]);
    let args: Vec<String> = names.iter().map(|name| dir.config_file(name, "arg")).collect();
    assert_eq!(args, ["0.1", "0.2", "0.3", "0.4", "0.5"], "the argv the command received");
}

#[test]
fn an_integer_range_with_a_step_gives_every_step() {
    let dir = Dir::new();
    recording(&dir, "n");
    let lines = dir.run("exp-add", &["--grid", "n=1..7:3"]).succeeds().json_lines();
    let values: Vec<Value> = lines.iter().map(|l| l["params"]["n"].clone()).collect();
    assert_eq!(values, [json!(1), json!(4), json!(7)]);
    assert!(values.iter().all(Value::is_i64), "integers: {values:?}");
    run_bounded(&dir, "exp-run", &[]).succeeds();
    let args: Vec<String> = ["n1", "n4", "n7"].iter().map(|name| dir.config_file(name, "arg")).collect();
    assert_eq!(args, ["1", "4", "7"]);
}

#[test]
fn malformed_grids_exit_2_naming_the_argument_and_change_nothing() {
    let dir = Dir::new();
    recording(&dir, "lr");
    dir.run("exp-add", &["--grid", "lr=1"]).succeeds();
    let before = dir.state_file();
    for (grid, why) in
        [("lr=0.1..0.5", "needs a step"), ("n=1..5:0", "greater than 0"), ("i=1,,2", "empty value")]
    {
        let out = dir.run("exp-add", &["--grid", grid]);
        out.fails_with(2);
        assert!(out.stdout.is_empty(), "{grid}: {out:?}");
        assert!(out.stderr.contains(grid), "{grid}: names the argument: {out:?}");
        assert!(out.stderr.contains(why), "{grid}: says why: {out:?}");
        assert_eq!(dir.state_file(), before, "{grid}: the state file is unchanged");
        assert_eq!(dir.status().len(), 1, "{grid}");
    }
}

#[test]
fn a_key_no_template_reads_is_warned_about_and_still_reaches_the_command() {
    let dir = Dir::new();
    let record = r#"printf %s "$EXP_PARAM_DROPUOT" > "$EXP_CONFIG_DIR/dropuot""#;
    dir.init(&["--naming", "lr{lr}"], &["sh", "-c", record, "sh", "{lr}"]);
    let out = dir.run("exp-add", &["--grid", "lr=0.01", "--grid", "dropuot=0.1"]);
    out.succeeds()
        .stderr_has("warning")
        .stderr_has("\"dropuot\"") // names the key
        .stderr_has("EXP_PARAM_DROPUOT")
        .stderr_lacks("\"lr\""); // lr is used
    let lines = out.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["added"], true, "still added: {out:?}");
    assert_eq!(lines[0]["params"], json!({"lr": 0.01, "dropuot": 0.1}));

    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.config_file("lr0.01", "dropuot"), "0.1");

    // An object or array reaches the command in EXP_PARAMS only: the
    // warning names no variable the command will not get.
    let out = dir.run_stdin("exp-add", &["-f", "-"], r#"{"lr": 0.02, "opt": {"beta": 0.9}}"#);
    out.succeeds().stderr_has("\"opt\"").stderr_has("EXP_PARAMS").stderr_lacks("EXP_PARAM_OPT");
    // only scalars get their own variable
}

#[test]
fn no_unused_key_warning_when_the_command_reads_no_param_in_its_template() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{name}"]);
    let out = dir.run("exp-add", &["--grid", "dropuot=0.1"]);
    out.succeeds()
        .stderr_lacks("dropuot") // the command reads EXP_PARAMS itself
        .stderr_lacks("warning");
    assert_eq!(out.json_lines().len(), 1);
}

// ---------- stdin with --grid ----------

#[test]
fn piped_lines_with_only_a_grid_are_ignored_with_a_hint() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    let out = dir.run_stdin("exp-add", &["--grid", "lr=1,2"], "{\"model\":\"a\"}\n");
    out.succeeds().stderr_has("ignored").stderr_has("-f -"); // says how to use them
    let params: Vec<Value> = out.json_lines().iter().map(|l| l["params"].clone()).collect();
    assert_eq!(params, [json!({"lr": 1}), json!({"lr": 2})]);
}

#[test]
fn piped_lines_with_f_dash_are_crossed_with_the_grid() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    let out = dir.run_stdin("exp-add", &["-f", "-", "--grid", "lr=1,2"], "{\"model\":\"a\"}\n");
    out.succeeds().stderr_lacks("ignored");
    let params: Vec<Value> = out.json_lines().iter().map(|l| l["params"].clone()).collect();
    assert_eq!(params, [json!({"model": "a", "lr": 1}), json!({"model": "a", "lr": 2})]);
    let stored: BTreeSet<String> = dir.status().iter().map(|row| row["params"].to_string()).collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
}

// ---------- relative paths and the workdir ----------

#[test]
fn a_relative_script_runs_where_init_ran_whatever_the_runner_cwd() {
    let dir = Dir::new();
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    script(&project, "script.sh", "#!/bin/sh\npwd > \"$EXP_CONFIG_DIR/pwd\"\n");
    let out = run_from(&dir, &project, "exp-init", &["--naming", "c{i}", "--", "./script.sh"]);
    out.succeeds().stderr_lacks("not found"); // the script exists there
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();

    // The runner starts from elsewhere: the root, then the temp dir.
    run_from(&dir, Path::new("/"), "exp-run", &["--limit", "1"]).succeeds();
    run_from(&dir, dir.path(), "exp-run", &[]).succeeds();
    for name in ["c0", "c1"] {
        let pwd = dir.config_file(name, "pwd");
        assert!(same_dir(&pwd, &project), "{name} ran in {pwd:?}, not {}", project.display());
    }
}

#[test]
fn workdir_makes_commands_run_there() {
    let dir = Dir::new();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let record = r#"pwd > "$EXP_CONFIG_DIR/pwd""#;
    // Relative to where exp-init runs (the temp dir).
    dir.init(&["--workdir", "work", "--naming", "c{i}"], &["sh", "-c", record]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    run_from(&dir, Path::new("/"), "exp-run", &[]).succeeds();
    let pwd = dir.config_file("c0", "pwd");
    assert!(same_dir(&pwd, &work), "ran in {pwd:?}, not {}", work.display());
}

#[test]
fn a_nonexistent_workdir_is_refused_at_init() {
    let dir = Dir::new();
    let out = dir.run("exp-init", &["--workdir", "nowhere", "--", "true"]);
    out.fails_with(2).stderr_has("--workdir").stderr_has("nowhere");
    assert!(!dir.exp().join("experiment.yaml").exists(), "nothing created");
}

// ---------- --max-failures ----------

#[test]
fn max_failures_stops_a_broken_sweep_after_n_failures() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "echo {i} >> runs.txt; exit 3"], &[]);
    dir.run("exp-add", &["--grid", "i=0..9"]).succeeds();
    let out = run_bounded(&dir, "exp-run", &["-j1", "--max-failures", "2"]);
    out.fails_with(1);
    assert_eq!(dir.read("runs.txt").lines().count(), 2, "exactly 2 ran");
    out.stderr_has("--max-failures reached");
    let rows = by_name(&dir);
    let failed = rows.values().filter(|row| row["status"] == "failed").count();
    let todo = rows.values().filter(|row| row["status"] == "todo").count();
    assert_eq!((failed, todo), (2, 8), "{rows:#?}");
}

#[test]
fn max_failures_with_retries_announces_only_retries_that_run_and_counts_every_failure() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "sleep 0.1; exit 3"], &[]);
    dir.run("exp-add", &["--grid", "i=0..19"]).succeeds();
    let out = run_bounded(
        &dir,
        "exp-run",
        &["-j4", "--retries", "2", "--max-failures", "3", "--progress", "never"],
    );
    out.fails_with(1);
    let rows = by_name(&dir);
    for line in out.stderr.lines().filter(|l| l.contains("retrying ")) {
        // "retrying c5, attempt 2/3"
        let rest = line.split("retrying ").nth(1).unwrap();
        let (name, attempt) = rest.split_once(", attempt ").unwrap();
        let attempt: u64 = attempt.split('/').next().unwrap().parse().unwrap();
        let ran = rows[name]["attempts"].as_u64().unwrap();
        assert!(ran >= attempt, "{name} announced attempt {attempt} but ran {ran}: {out:?}");
    }
    let failed = rows.values().filter(|row| row["status"] == "failed").count();
    let closing = out.stderr.lines().last().unwrap_or_default();
    assert!(closing.contains(&format!("{failed} failed")), "every failure counted ({failed}): {closing}");
}

// ---------- failures that explain themselves ----------

#[test]
fn a_failure_shows_the_last_line_of_stderr_everywhere() {
    let dir = Dir::new();
    let command = "echo loading... >&2; echo 'ModuleNotFoundError: no module named torch' >&2; exit 1";
    dir.init(&["--naming", "c{i}", "--shell", command], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    let why = "ModuleNotFoundError: no module named torch";

    // exp-run's plain line (stderr is not a terminal).
    let out = run_bounded(&dir, "exp-run", &[]);
    out.fails_with(1);
    let line = out.stderr.lines().find(|l| l.contains("failed c0")).unwrap_or_else(|| panic!("{out:?}"));
    assert!(line.contains("exit code 1") && line.contains(why), "{line}");

    // exp-status --json.
    let row = &by_name(&dir)["c0"];
    let error = row["error"].as_str().unwrap();
    assert!(error.contains("exit code 1"), "{row}");
    assert!(error.contains(why), "{row}");
    assert!(!error.contains("loading"), "only the last line: {row}");

    // The plain overview lists it among the failed.
    let overview = dir.run("exp-status", &[]).succeeds().stdout.clone();
    let failed_at = overview.find("failed:").unwrap_or_else(|| panic!("{overview}"));
    let listed =
        overview[failed_at..].lines().find(|l| l.contains("c0")).unwrap_or_else(|| panic!("{overview}"));
    assert!(listed.contains(why), "{overview}");
}

// ---------- --log ----------

#[test]
fn log_prints_stdout_then_stderr_each_under_a_header() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "echo out line; echo err line >&2"], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).succeeds();
    let out = dir.run("exp-status", &["--log", "c0"]);
    out.succeeds();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert!(lines[0].starts_with("==> ") && lines[0].ends_with("c0/stdout.log <=="), "{out:?}");
    assert_eq!(lines[1], "out line");
    assert!(lines[2].starts_with("==> ") && lines[2].ends_with("c0/stderr.log <=="), "{out:?}");
    assert_eq!(lines[3], "err line");
}

#[test]
fn log_attempt_1_shows_the_first_attempt_after_a_retry() {
    let dir = Dir::new();
    let command = r#"echo "out $EXP_ATTEMPT"; echo "err $EXP_ATTEMPT" >&2; test "$EXP_ATTEMPT" -ge 2"#;
    dir.init(&["--naming", "c{i}", "--shell", command], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    run_bounded(&dir, "exp-run", &["--retries", "1"]).succeeds();
    assert_eq!(by_name(&dir)["c0"]["attempts"], 2);

    let first = dir.run("exp-status", &["--log", "c0", "--attempt", "1"]);
    first.succeeds();
    let lines: Vec<&str> = first.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{first:?}");
    assert!(lines[0].ends_with("c0/stdout.1.log <=="), "{first:?}");
    assert_eq!(lines[1], "out 1");
    assert!(lines[2].ends_with("c0/stderr.1.log <=="), "{first:?}");
    assert_eq!(lines[3], "err 1");

    let latest = dir.run("exp-status", &["--log", "c0"]);
    latest.succeeds();
    let lines: Vec<&str> = latest.stdout.lines().collect();
    assert_eq!(lines, [lines[0], "out 2", lines[2], "err 2"], "{latest:?}");
    assert!(lines[0].ends_with("c0/stdout.log <==") && lines[2].ends_with("c0/stderr.log <=="));
}

#[test]
fn log_of_an_unknown_config_or_attempt_is_exit_2() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "echo hi"], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).succeeds();
    let unknown = dir.run("exp-status", &["--log", "nope"]);
    unknown.fails_with(2).stderr_has("nope").no_stdout();
    let attempt = dir.run("exp-status", &["--log", "c0", "--attempt", "9"]);
    attempt.fails_with(2).stderr_has("--attempt 9").no_stdout();
}

/// Whether process `pid` has `path` open.
fn has_open(pid: i32, path: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries.flatten().any(|entry| std::fs::read_link(entry.path()).is_ok_and(|target| target == path))
}

#[test]
fn log_follow_prints_new_lines_and_ends_with_the_config() {
    let dir = Dir::new();
    let command = "echo first; while [ ! -e gate1 ]; do sleep 0.05; done; echo second; \
                   while [ ! -e gate2 ]; do sleep 0.05; done; echo third";
    dir.init(&["--naming", "c{i}", "--shell", command], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    let runner = Bg::run(&dir, &["--progress", "never"]);
    let stdout_log = dir.exp().join("configs/c0/stdout.log");
    wait_for("the first line", || std::fs::read_to_string(&stdout_log).is_ok_and(|t| t.contains("first")));

    let follower = Bg::spawn(&dir, "exp-status", &["--log", "c0", "--follow"]);
    // It has printed both logs once when it holds stderr.log open.
    let stderr_log = std::fs::canonicalize(dir.exp().join("configs/c0/stderr.log")).unwrap();
    let pid = follower.pid().as_raw();
    wait_for("the follower to read both logs", || has_open(pid, &stderr_log));

    touch(&dir, "gate1");
    wait_for("the second line", || std::fs::read_to_string(&stdout_log).is_ok_and(|t| t.contains("second")));
    touch(&dir, "gate2");
    runner.finish().succeeds();
    let out = follower.finish();
    out.succeeds();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].ends_with("c0/stdout.log <=="), "{out:?}");
    assert_eq!(lines[1], "first", "{out:?}");
    assert!(lines[2].ends_with("c0/stderr.log <=="), "{out:?}");
    // What came later is shown under stdout.log's header again.
    let rest: Vec<&str> = lines[3..].iter().copied().filter(|l| !l.is_empty()).collect();
    assert_eq!(rest.len(), 3, "{out:?}");
    assert!(rest[0].ends_with("c0/stdout.log <=="), "{out:?}");
    assert_eq!(rest[1..], ["second", "third"], "{out:?}");
}

#[test]
fn log_of_a_config_retried_again_and_again_shows_one_whole_attempt_each_time() {
    // A runner retries c0 over and over, moving each attempt's logs aside
    // as the next begins: every --log sees one attempt, from start to end.
    let dir = Dir::new();
    let command =
        "echo \"attempt $EXP_ATTEMPT start\"; sleep 0.05; echo \"attempt $EXP_ATTEMPT end\"; exit 1";
    dir.init(&["--naming", "c{i}", "--shell", command], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    let runner = Bg::run(&dir, &["--retries", "100000", "--progress", "never"]);
    wait_for("a few attempts", || by_name(&dir)["c0"]["attempts"].as_u64().unwrap_or(0) >= 3);
    for round in 0..100 {
        // Followed, an attempt is shown to its end; without --follow, as
        // far as it got (a running one may not have printed yet).
        let follow = round % 2 == 0;
        let args: &[&str] = if follow { &["--log", "c0", "--follow"] } else { &["--log", "c0"] };
        let out = dir.run("exp-status", args);
        out.succeeds();
        let attempts: BTreeSet<&str> = out
            .stdout
            .lines()
            .filter_map(|line| line.strip_prefix("attempt "))
            .filter_map(|rest| rest.split(' ').next())
            .collect();
        assert!(attempts.len() <= 1, "one attempt, never two mixed: {out:?}");
        if follow {
            let attempt = attempts.into_iter().next().unwrap_or_else(|| panic!("an attempt: {out:?}"));
            for end in ["start", "end"] {
                out.stdout_has(format!("attempt {attempt} {end}"));
            }
        }
    }
    runner.signal(Signal::SIGTERM);
    runner.finish();
}

// ---------- --status table ----------

#[test]
fn status_failed_prints_a_table_of_only_the_failed_configs() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "test {model} = mlp && test {i} -ne 1 && test {i} -ne 3"], &[]);
    dir.run("exp-add", &["--grid", "i=0..3", "--grid", "model=mlp"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).fails_with(1);
    let out = dir.run("exp-status", &["--status", "failed"]);
    out.succeeds();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows: {out:?}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "STATUS", "DURATION", "ATTEMPTS", "PARAMS"]
    );
    for (line, i) in lines[1..].iter().zip([1, 3]) {
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[0], format!("c{i}"), "{line}");
        assert_eq!(cells[1], "failed", "{line}");
        assert_eq!(cells[3], "1", "{line}");
        let params: Value = serde_json::from_str(&line[line.find('{').unwrap()..]).unwrap();
        assert_eq!(params, json!({"i": i, "model": "mlp"}), "{line}");
    }
}

// ---------- stopping right ----------

/// One config `c0` running `TMP/stop.sh`, which traps SIGTERM with `on_term`
/// and writes its pid to `TMP/pid` once the trap is set.
fn trapping_experiment(dir: &Dir, on_term: &str) {
    let body = format!("trap '{on_term}' TERM\necho $$ > pid\nwhile :; do sleep 0.05; done\n");
    script(dir.path(), "stop.sh", &body);
    dir.init(&["--naming", "c{i}"], &["sh", "stop.sh"]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
}

/// SIGTERM to the runner once its command has started; its output.
fn sigterm_the_runner(dir: &Dir) -> Out {
    let runner = Bg::run(dir, &["--progress", "never", "--kill-after", "30s"]);
    wait_pid(dir, "pid");
    runner.signal(Signal::SIGTERM);
    runner.finish()
}

#[test]
fn a_checkpoint_without_a_result_on_sigterm_leaves_the_config_todo() {
    let dir = Dir::new();
    trapping_experiment(&dir, "echo saved checkpoint; exit 0");
    let out = sigterm_the_runner(&dir);
    out.fails_with(143);
    assert_eq!(dir.config_file("c0", "stdout.log"), "saved checkpoint\n", "the trap ran");
    let row = &by_name(&dir)["c0"];
    assert_eq!(row["status"], "todo", "not done without a result: {row}");
    assert!(row["interruption_time"].is_string(), "{row}");
}

#[test]
fn a_result_written_on_sigterm_makes_the_config_done() {
    let dir = Dir::new();
    trapping_experiment(&dir, r#"echo "{\"loss\": 0.5}" > "$EXP_RESULT"; exit 0"#);
    let out = sigterm_the_runner(&dir);
    out.fails_with(143);
    let rows = dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "done", "{:?}", rows[0]);
    assert_eq!(rows[0]["result"], json!({"loss": 0.5}), "{:?}", rows[0]);
}

// ---------- exit codes for arrays ----------

#[test]
fn a_run_of_only_successful_configs_exits_0_while_check_sees_an_old_failure() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--shell", "test {i} -ne 1"], &[]);
    dir.run("exp-add", &["--grid", "i=0..3"]).succeeds();
    dir.run_stdin("exp-run", &["--names", "-"], "c1\n").fails_with(1);
    assert_eq!(status_of(&dir, "c1"), "failed");

    // A later task of the array runs the rest: all of them succeed.
    let out = run_bounded(&dir, "exp-run", &[]);
    out.succeeds().stderr_has("1 failed and 0 todo in the selection");
    let rows = by_name(&dir);
    for name in ["c0", "c2", "c3"] {
        assert_eq!(rows[name]["status"], "done", "{name}");
    }
    assert_eq!(rows["c1"]["status"], "failed");
    dir.run("exp-status", &["--check"]).fails_with(1);
}

// ---------- cron ----------

#[test]
fn exclusive_quiet_while_another_runner_is_active_exits_4_silently() {
    let dir = Dir::new();
    let runner = gated_runner(&dir);
    let quiet = dir.run("exp-run", &["--exclusive", "-q"]);
    quiet.fails_with(4);
    assert_eq!(quiet.stderr, "", "cron mails nothing: {quiet:?}");
    assert_eq!(quiet.stdout, "", "{quiet:?}");
    let loud = dir.run("exp-run", &["--exclusive"]);
    loud.fails_with(4).stderr_has("another runner is active");
    release_runner(&dir, runner);
    assert_eq!(status_of(&dir, "c0"), "done");
}

// ---------- small things ----------

#[test]
fn a_dotted_placeholder_reaches_into_a_nested_param() {
    let dir = Dir::new();
    let record = r#"printf %s "$1" > "$EXP_CONFIG_DIR/depth""#;
    dir.init(&["--naming", "c{i}"], &["sh", "-c", record, "sh", "{model.depth}"]);
    let out = dir.run_stdin("exp-add", &[], "{\"i\":0,\"model\":{\"depth\":3,\"width\":8}}\n");
    out.succeeds().stderr_lacks("\"model\""); // model is read
    run_bounded(&dir, "exp-run", &[]).succeeds();
    assert_eq!(dir.config_file("c0", "depth"), "3");
}

#[test]
fn env_worker_modulo_gives_slots_0_and_1_with_4_workers() {
    let dir = Dir::new();
    // The first four wait for each other (10 s at most), so four slots are busy at once.
    let record = r#"echo "$SLOT $EXP_WORKER" > "$EXP_CONFIG_DIR/slot"; touch "started-$EXP_NAME"
n=0; while [ "$(ls | grep -c '^started-')" -lt 4 ] && [ $n -lt 500 ]; do n=$((n+1)); sleep 0.02; done"#;
    dir.init(&["--naming", "c{i}", "--shell", record], &[]);
    dir.run("exp-add", &["--grid", "i=0..7"]).succeeds();
    run_bounded(&dir, "exp-run", &["-j", "4", "--env", "SLOT={worker%2}"]).succeeds();
    let mut workers = BTreeSet::new();
    for i in 0..8 {
        let text = dir.config_file(&format!("c{i}"), "slot");
        let (slot, worker) = text.trim().split_once(' ').unwrap();
        let (slot, worker): (u32, u32) = (slot.parse().unwrap(), worker.parse().unwrap());
        assert!(slot <= 1, "c{i}: SLOT={slot}");
        assert_eq!(slot, worker % 2, "c{i}: worker {worker}");
        workers.insert(worker);
    }
    assert!(workers.iter().any(|&w| w >= 2), "four workers were used: {workers:?}");
}

#[test]
fn a_config_folder_holds_its_params_and_exact_argv_even_when_the_program_is_missing() {
    let dir = Dir::new();
    dir.init(&["--naming", "{prog}", "--default", "seed=0"], &["{prog}", "-c", "exit 0", "--lr", "{lr}"]);
    dir.run("exp-add", &["--grid", "prog=sh,no-such-program", "--grid", "lr=0.1"]).succeeds();
    run_bounded(&dir, "exp-run", &[]).fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["sh"]["status"], "done");
    assert_eq!(rows["no-such-program"]["status"], "failed");
    assert!(rows["no-such-program"]["error"].as_str().unwrap().contains("no-such-program"));
    for prog in ["sh", "no-such-program"] {
        let params: Value = serde_json::from_str(&dir.config_file(prog, "params.json")).unwrap();
        assert_eq!(params, json!({"prog": prog, "lr": 0.1, "seed": 0}), "{prog}: merged params");
        let argv: Value = serde_json::from_str(&dir.config_file(prog, "command.json")).unwrap();
        assert_eq!(argv, json!([prog, "-c", "exit 0", "--lr", "0.1"]), "{prog}: argv after substitution");
    }
}
