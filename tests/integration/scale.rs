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

/// A big experiment whose command logs each config's name to `TMP/runs.txt`.
fn big_logging_experiment(dir: &Dir, n: usize) -> BTreeSet<String> {
    dir.init(&["--naming", "c{i}", "--shell", "echo {name} >> runs.txt"], &[]);
    let pad = "x".repeat(300);
    let lines: String = (0..n).map(|i| format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n")).collect();
    let added = dir.run_stdin("exp-add", &["-f", "-"], &lines).succeeds().json_lines();
    assert!(std::fs::metadata(dir.exp().join("experiment.yaml")).unwrap().len() > 1 << 20);
    added.iter().map(|l| l["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn runs_that_read_a_big_experiment_a_window_at_a_time_run_every_config_once() {
    let dir = Dir::new();
    let mut names = big_logging_experiment(&dir, 8000);
    // A limited run reads no more than it needs, in the experiment's order
    // (past a window's width, before the journal is due to be folded).
    dir.run("exp-run", &["--limit", "300", "-j", "2", "--progress", "never", "-q"]).succeeds();
    let first: Vec<String> = dir.read("runs.txt").lines().map(str::to_string).collect();
    let mut expected_first: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let mut sorted_first = first.clone();
    sorted_first.sort();
    expected_first.sort();
    assert_eq!(sorted_first, expected_first, "the first 300 configs, once each");
    assert!(!dir.exp().join("results_summary.csv").exists(), "not all done: no summary");
    let one = dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":-1,\"pad\":\"y\"}\n").succeeds().json_lines();
    names.insert(one[0]["name"].as_str().unwrap().to_string());

    // Three runners at once, each from its own window of the same configs.
    let runners: Vec<Bg> = (0..3).map(|_| Bg::run(&dir, &["-j", "2", "--progress", "never"])).collect();
    for runner in runners {
        runner.finish().succeeds();
    }
    let text = dir.read("runs.txt");
    let ran: Vec<&str> = text.lines().collect();
    assert_eq!(ran.len(), 8001, "every config started once");
    assert_eq!(ran.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>(), names);
    assert_eq!(
        counts(&dir, &[]),
        serde_json::json!({"todo":0,"running":0,"done":8001,"failed":0,"total":8001})
    );
    assert!(dir.exp().join("results_summary.csv").is_file(), "all done: the summary is written");
    assert_eq!(listed_names(&dir).len(), 8001);
}

#[test]
fn a_copy_of_a_big_experiment_keeps_its_index_and_both_stay_right() {
    let dir = Dir::new();
    let names = big_experiment(&dir);
    let copied = dir.program("cp").args(["-a", "exp", "copy"]).status().unwrap();
    assert!(copied.success());
    std::fs::write(dir.path().join("one.jsonl"), "{\"i\":7,\"pad\":\"other\"}\n").unwrap();
    let on_copy = |tool: &str, args: &[&str]| Out::of(dir.cmd(tool).arg("copy").args(args).output().unwrap());
    on_copy("exp-run", &["--limit", "30", "-j", "2", "--progress", "never", "-q"]).succeeds();
    on_copy("exp-add", &["-f", "one.jsonl"]).succeeds();
    let on_copy_counts: Value =
        serde_json::from_str(&on_copy("exp-status", &["--counts", "--json"]).succeeds().stdout).unwrap();
    assert_eq!(
        on_copy_counts,
        serde_json::json!({"todo":7971,"running":0,"done":30,"failed":0,"total":8001})
    );
    let done = on_copy("exp-status", &["--status", "done", "--names"]);
    let done = &done.succeeds().stdout;
    assert_eq!(done.lines().map(str::to_string).collect::<Vec<_>>(), names[..30]);
    assert_eq!(counts(&dir, &[])["done"], 0, "the original is untouched");
}
