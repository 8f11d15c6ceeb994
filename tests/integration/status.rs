//! `exp-status`: JSON lines, counts, names, --check, the Delphyne fixture,
//! and composition with jq.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

fn fixture() -> PathBuf {
    repo("tests/fixtures/delphyne-abduction-experiment.yaml")
}

/// An experiment with the Delphyne fixture as its state.
fn delphyne() -> Dir {
    let dir = Dir::new();
    std::fs::create_dir(dir.exp()).unwrap();
    std::fs::copy(fixture(), dir.exp().join("experiment.yaml")).expect("copy the fixture");
    dir
}

/// `n` todo configs `{"i": 0..n}`, returning their names in order.
fn experiment_with(dir: &Dir, n: usize) -> Vec<String> {
    dir.init(&[], &["echo", "{i}"]);
    let grid = format!("i=0..{}", n - 1);
    names(&dir.run("exp-add", &["--grid", &grid]).succeeds().json_lines())
}

/// Run the first `how_many` todo configs (their `echo` succeeds): done.
fn mark_done(dir: &Dir, how_many: usize) {
    let limit = how_many.to_string();
    dir.run("exp-run", &["--limit", &limit, "--progress", "never", "-q"]).succeeds();
}

#[test]
fn json_lines_carry_every_documented_field() {
    let dir = Dir::new();
    dir.init(&["--default", "seed=0"], &["echo", "{lr}"]);
    dir.run_stdin("exp-add", &[], "{\"lr\":0.1}\n{\"lr\":0.2,\"seed\":1}\n").succeeds();
    let rows = dir.status();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        for field in [
            "name",
            "status",
            "params",
            "start_time",
            "end_time",
            "interruption_time",
            "duration",
            "attempts",
            "exit_code",
            "error",
            "dir",
        ] {
            assert!(row.get(field).is_some(), "{field} missing from {row}");
        }
        assert_eq!(row["status"], "todo");
        assert_eq!(row["start_time"], Value::Null);
        assert_eq!(row["duration"], Value::Null);
    }
    assert_eq!(rows[0]["params"], json!({"seed":0,"lr":0.1}));
    assert_eq!(rows[1]["params"], json!({"seed":1,"lr":0.2}));
}

#[test]
fn counts_shape_and_status_filter() {
    let dir = Dir::new();
    experiment_with(&dir, 5);
    assert_eq!(counts(&dir, &[]), json!({"todo":5,"running":0,"done":0,"failed":0,"total":5}));
    mark_done(&dir, 2);
    let all = counts(&dir, &[]);
    assert_eq!(all, json!({"todo":3,"running":0,"done":2,"failed":0,"total":5}));
    let keys: Vec<&String> = all.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["todo", "running", "done", "failed", "total"]);
    let text = dir.run("exp-status", &["--counts"]).succeeds().stdout.clone();
    assert!(text.contains("done\t2") && text.contains("total\t5"), "{text}");
    assert_eq!(
        counts(&dir, &["--status", "done"]),
        json!({"todo":0,"running":0,"done":2,"failed":0,"total":2})
    );
}

#[test]
fn names_filter_by_status() {
    let dir = Dir::new();
    let names = experiment_with(&dir, 4);
    mark_done(&dir, 1);
    let out = dir.run("exp-status", &["--status", "todo", "--names"]);
    out.succeeds();
    let todo: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(todo, names[1..].iter().map(String::as_str).collect::<Vec<_>>());
    let done = dir.run("exp-status", &["--status", "done", "--names"]);
    assert_eq!(done.succeeds().stdout, format!("{}\n", names[0]));
    let both = dir.run("exp-status", &["--status", "done", "--status", "todo", "--names"]);
    assert_eq!(both.succeeds().stdout.lines().count(), 4);
    let failed = dir.run("exp-status", &["--status", "failed", "--names"]);
    assert!(failed.succeeds().stdout.is_empty());
    let json = dir.run("exp-status", &["--status", "done", "--json"]);
    let rows = json.succeeds().json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"].as_str().unwrap(), names[0]);
    assert_eq!(rows[0]["status"], "done");
}

#[test]
fn an_unknown_status_is_a_usage_error() {
    let dir = Dir::new();
    experiment_with(&dir, 1);
    let out = dir.run("exp-status", &["--status", "finished", "--names"]);
    out.fails_with(2).stderr_has("finished");
}

#[test]
fn check_is_exit_1_until_everything_is_done() {
    let dir = Dir::new();
    experiment_with(&dir, 3);
    let out = dir.run("exp-status", &["--check"]);
    out.fails_with(1).no_stdout();
    mark_done(&dir, 2);
    dir.run("exp-status", &["--check"]).fails_with(1);
    mark_done(&dir, 1);
    let done = dir.run("exp-status", &["--check"]);
    done.succeeds().no_stdout();
}

#[test]
fn human_overview_summarises() {
    let dir = Dir::new();
    dir.init(&["--name", "my-sweep"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=1..3"]).succeeds();
    mark_done(&dir, 1);
    let out = dir.run("exp-status", &[]);
    out.succeeds().stdout_has("my-sweep").stdout_has("3 configs").stdout_has("1 done").stdout_has("2 todo");
}

#[test]
fn status_does_not_write() {
    let dir = Dir::new();
    experiment_with(&dir, 3);
    let before = dir.state_file();
    for args in [&["--json"][..], &["--counts", "--json"], &["--names"], &["--check"], &[]] {
        dir.run("exp-status", args);
    }
    assert_eq!(dir.state_file(), before);
}

#[test]
fn delphyne_fixture_loads_unchanged() {
    let dir = delphyne();
    let original = std::fs::read(fixture()).unwrap();
    let rows = dir.status();
    assert_eq!(rows.len(), 2);
    let first = &rows[0];
    assert_eq!(first["name"], "473d263f-c542-45f7-84d2-d8e3ba379d81");
    assert_eq!(first["status"], "done");
    assert_eq!(first["params"]["bench_name"], "1", "a string, as in the file");
    assert_eq!(first["params"]["model_cycle"], json!([["gpt-4.1-nano", 2], ["gpt-4.1-mini", 1]]));
    assert_eq!(first["params"]["temperature"], 1.5);
    assert_eq!(rows[1]["params"]["bench_name"], "7");
    for row in &rows {
        assert_eq!(row["status"], "done");
        assert!(row["start_time"].as_str().unwrap().starts_with("2025-11-05"));
        assert!(row["end_time"].as_str().unwrap().starts_with("2025-11-05"));
        assert_eq!(row["interruption_time"], Value::Null);
        let duration = row["duration"].as_f64().expect("a duration");
        assert!(duration > 0.0, "{row}");
    }
    let first_duration = first["duration"].as_f64().unwrap();
    assert!((first_duration - 18.732235).abs() < 1e-3, "{first_duration}");

    let overview = dir.run("exp-status", &[]);
    overview.succeeds().stdout_has("2 configs").stdout_has("2 done");
    assert_eq!(counts(&dir, &[]), json!({"todo":0,"running":0,"done":2,"failed":0,"total":2}));
    dir.run("exp-status", &["--check"]).succeeds();
    let names = dir.run("exp-status", &["--names"]);
    assert_eq!(names.succeeds().stdout.lines().count(), 2);
    assert_eq!(dir.state_file(), original, "exp-status changed the Delphyne file");
}

#[test]
fn delphyne_fixture_accepts_new_configs() {
    let dir = delphyne();
    let out = dir.run_stdin(
        "exp-add",
        &[],
        "{\"bench_name\":\"1\",\"model_cycle\":[[\"gpt-4.1-nano\",2],[\"gpt-4.1-mini\",1]],\
         \"temperature\":1.5,\"num_completions\":4,\"max_requests_per_attempt\":4,\
         \"max_dollar_budget\":0.1,\"seed\":0}\n{\"bench_name\":\"2\"}\n",
    );
    let lines = out.succeeds().json_lines();
    assert_eq!(lines[0]["added"], false, "the existing config is recognised");
    assert_eq!(lines[0]["name"], "473d263f-c542-45f7-84d2-d8e3ba379d81");
    assert_eq!(lines[1]["added"], true);
    assert_eq!(counts(&dir, &[]), json!({"todo":1,"running":0,"done":2,"failed":0,"total":3}));
    let rows = dir.status();
    assert!(rows[0]["duration"].as_f64().unwrap() > 0.0, "times survive a rewrite");
}

#[test]
fn composes_with_jq_through_a_pipe() {
    if std::process::Command::new("jq")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!("note: jq is not installed; skipping composes_with_jq_through_a_pipe");
        return;
    }
    let dir = Dir::new();
    let names = experiment_with(&dir, 4);
    mark_done(&dir, 1);
    let out = through_jq(&dir, "exp-status", &["--json"], &["-r", r#"select(.status=="todo") | .name"#]);
    out.succeeds();
    let todo: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(todo, names[1..].iter().map(String::as_str).collect::<Vec<_>>());

    // And back: names from jq fed to exp-add as params.
    let mut back = jq()
        .args(["-c", r#"{i: (.params.i + 100)}"#])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rows = dir.run("exp-status", &["--json"]).succeeds().stdout.clone();
    back.stdin.take().unwrap().write_all(rows.as_bytes()).unwrap();
    let transformed = Out::of(back.wait_with_output().unwrap());
    let added = dir.run_stdin("exp-add", &[], &transformed.succeeds().stdout);
    assert_eq!(added.succeeds().json_lines().len(), 4);
    assert_eq!(counts(&dir, &[])["total"], 8);
}

#[test]
#[ignore = "tests run as root in CI, where a 0555 directory is still writable"]
fn status_works_on_a_read_only_copy() {
    use std::os::unix::fs::PermissionsExt;
    let dir = delphyne();
    std::fs::set_permissions(dir.exp(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let rows = dir.status();
    assert_eq!(rows.len(), 2);
    std::fs::set_permissions(dir.exp(), std::fs::Permissions::from_mode(0o755)).unwrap();
}
