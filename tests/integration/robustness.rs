//! Bad input and hostile conditions found in review: each must be refused
//! cleanly or survived, never a panic, a wipe or a silent failure of every config.

use crate::harness::*;
use std::process::{Command, Stdio};

#[test]
fn concurrent_inits_and_adds_keep_every_config() {
    // Every task of a Slurm array runs `exp-init D -- ... && exp-add D ...`.
    let dir = Dir::new();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let script = format!(
                "{init} exp -- true && {add} exp --grid task={task} --grid a=1..50 > /dev/null",
                init = bin("exp-init").display(),
                add = bin("exp-add").display(),
            );
            let mut cmd = Command::new("sh");
            cmd.args(["-c", &script]).current_dir(dir.path()).stdin(Stdio::null()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for task in tasks {
        let out = task.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let counts = dir.run("exp-status", &["--counts", "--json"]).succeeds().json_lines();
    assert_eq!(counts[0]["total"], 8 * 50);
}

#[test]
fn a_missing_env_key_is_refused_before_anything_runs() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    dir.run("exp-add", &["--grid", "a=1,2"]).succeeds();
    let before = dir.read("exp/experiment.yaml");
    let out = dir.run("exp-run", &["--env", "X={nokey}"]);
    out.fails_with(2).stderr_has("nokey");
    assert_eq!(dir.read("exp/experiment.yaml"), before);
    assert!(dir.status().iter().all(|row| row["status"] == "todo" && row["attempts"] == 0));

    // A template in the experiment's own env is checked when configs are added.
    let other = Dir::new();
    other.init(&["--env", "Y={b}"], &["true"]);
    let out = other.run("exp-add", &["--grid", "a=1"]);
    out.fails_with(2).stderr_has("\"b\"");
}

#[test]
fn absurd_durations_and_job_counts_are_usage_errors() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    for args in [
        &["--timeout", "1e30"][..],
        &["--timeout", "1e19"],
        &["--kill-after", "99999999999999h"],
        &["--stop-after", "-1"],
        &["-j", "100000000000"],
    ] {
        let out = dir.run("exp-run", args);
        out.fails_with(2);
        assert!(!out.stderr.contains("panicked"), "{args:?}: {out:?}");
    }
    assert_eq!(dir.status()[0]["status"], "todo");
}

#[test]
fn a_timeout_of_0_means_no_limit_as_for_timeout_1() {
    let dir = Dir::new();
    dir.init(&[], &["sleep", "0.2"]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    dir.run("exp-run", &["--timeout", "0", "--progress", "never"]).succeeds();
    assert_eq!(dir.status()[0]["status"], "done");
}

#[test]
fn a_flag_no_tool_knows_is_exit_2_in_a_message_that_names_the_tool() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    for tool in ["exp-init", "exp-add", "exp-run", "exp-status", "exp-snapshot", "exp-summary", "exp-clean"] {
        let out = dir.run(tool, &["--bogus"]);
        out.fails_with(2);
        let first = out.stderr.lines().next().unwrap_or_default();
        assert_eq!(first, format!("{tool}: unexpected argument '--bogus' found"), "{out:?}");
        out.no_stdout();
    }
    // --help and --version are no errors: on stdout, exit 0.
    let out = dir.run("exp-run", &["--version"]);
    out.succeeds();
    assert!(out.stdout.starts_with("exp-run "), "{out:?}");
}

#[test]
fn a_closed_stderr_does_not_stop_the_run() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["true"]);
    dir.run("exp-add", &["--grid", "a=1..20"]).succeeds();
    // stderr is a pipe whose reader is gone before the first line.
    let mut cmd = dir.cmd("exp-run");
    cmd.arg("exp").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(with_status(&by_name(&dir), "done").len(), 20);
}

#[test]
fn non_ascii_template_keys_work() {
    let dir = Dir::new();
    dir.init(&["--naming", "{é}-x{a}"], &["true"]);
    let added = dir.run_stdin("exp-add", &[], "{\"é\":\"u\",\"a\":1}\n").succeeds().json_lines();
    assert_eq!(added[0]["name"], "u-x1");
}

#[test]
fn an_unsafe_config_name_in_the_state_file_is_refused() {
    // A state file written by hand or by another tool, in Delphyne's shape.
    let dir = Dir::new();
    std::fs::create_dir(dir.exp()).unwrap();
    let state = "name: null\ndescription: null\ncommand: [\"true\"]\nconfigs:\n  ../../escape:\n    params: {a: 1}\n    status: todo\n";
    std::fs::write(dir.exp().join("experiment.yaml"), state).unwrap();
    for tool in ["exp-status", "exp-run"] {
        let out = dir.run(tool, &[]);
        out.fails_with(3);
        assert!(out.stderr.contains("safe"), "{tool}: {out:?}");
    }
    assert!(!dir.path().join("escape").exists());
    assert_eq!(dir.read("exp/experiment.yaml"), state);
}

#[test]
fn init_accepts_a_directory_reached_through_a_symlink() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.exp()).unwrap();
    dir.init(&[], &["true"]);
    assert!(dir.path().join("real/experiment.yaml").is_file());
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    dir.run("exp-run", &[]).succeeds();
}

#[test]
fn a_reinit_after_removing_the_state_starts_a_fresh_journal() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["true"]);
    dir.run("exp-add", &["--grid", "a=1..3"]).succeeds();
    dir.run("exp-run", &[]).succeeds();
    std::fs::remove_file(dir.exp().join("experiment.yaml")).unwrap();
    dir.init(&["--naming", "c{a}"], &["true"]);
    assert!(dir.status().is_empty(), "no config of the old state comes back");
    dir.run("exp-add", &["--grid", "a=7"]).succeeds();
    dir.run("exp-run", &[]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows["c7"]["status"], "done");
}
