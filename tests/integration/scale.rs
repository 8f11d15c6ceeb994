//! A big experiment behaves like a small one: past the size at which exp
//! stops rewriting `experiment.yaml` on every change (added configs and
//! status changes then wait in the journal, and counts come from the
//! index), every tool still sees every config, exactly once.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// What `exp-status --names` lists.
fn listed_names(dir: &Dir) -> Vec<String> {
    dir.run("exp-status", &["--names"]).succeeds().stdout.lines().map(str::to_string).collect()
}

#[test]
fn adding_to_a_big_experiment_keeps_every_config_once() {
    let dir = Dir::new();
    let mut expected = big_experiment(&dir);
    assert_eq!(counts(&dir, &[])["total"], 8000);

    // One more, then one that exists, then one whose name clashes.
    let one = dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":8000,\"pad\":\"y\"}\n").succeeds().json_lines();
    assert_eq!(one[0]["added"], true);
    expected.push(one[0]["name"].as_str().unwrap().to_string());
    let pad = "x".repeat(300);
    let again = dir
        .run_stdin("exp-add", &["-f", "-"], &format!("{{\"i\":7,\"pad\":\"{pad}\"}}\n"))
        .succeeds()
        .json_lines();
    assert_eq!((again[0]["name"].as_str(), &again[0]["added"]), (Some("c7"), &Value::Bool(false)));
    let clash =
        dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":7,\"pad\":\"other\"}\n").succeeds().json_lines();
    let clash_name = clash[0]["name"].as_str().unwrap().to_string();
    assert!(clash_name.starts_with("c7-") && clash[0]["added"] == true, "{clash:?}");
    expected.push(clash_name);

    assert_eq!(
        counts(&dir, &[]),
        serde_json::json!({"todo":8002,"running":0,"done":0,"failed":0,"total":8002})
    );
    assert_eq!(listed_names(&dir), expected, "every config once, in order");
    let rows = dir.status();
    assert_eq!(rows.len(), 8002);
    assert_eq!(rows.last().unwrap()["params"]["pad"], "other");
}

#[test]
fn runs_on_a_big_experiment_are_counted_and_survive_a_lost_index() {
    let dir = Dir::new();
    let names_before = big_experiment(&dir);
    dir.run("exp-run", &["--limit", "30", "-j", "2", "--progress", "never", "-q"]).succeeds();
    assert_eq!(counts(&dir, &[])["done"], 30);
    dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":-1,\"pad\":\"z\"}\n").succeeds();

    // The index is derived: without it, the same answers (and it is rebuilt).
    std::fs::remove_file(dir.exp().join(".exp/index")).unwrap();
    assert_eq!(
        counts(&dir, &[]),
        serde_json::json!({"todo":7971,"running":0,"done":30,"failed":0,"total":8001})
    );
    let done: BTreeSet<String> = dir
        .run("exp-status", &["--status", "done", "--names"])
        .succeeds()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(done, names_before[..30].iter().cloned().collect());
    dir.run("exp-clean", &[]).succeeds();
    assert_eq!(counts(&dir, &[])["total"], 8001);
    dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":-2,\"pad\":\"z\"}\n").succeeds();
    assert_eq!(counts(&dir, &[])["total"], 8002);
}
