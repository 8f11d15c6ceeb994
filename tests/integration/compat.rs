//! Experiments written by earlier releases of exp load, recover and run on
//! (as pueue keeps an old state file to guard its compatibility).

use crate::harness::*;
use std::path::Path;
use std::process::Command;

/// Copy a folder of `tests/fixtures` to `to`.
fn copy_fixture(name: &str, to: &Path) {
    let from = repo("tests/fixtures").join(name);
    let status = Command::new("cp").arg("-r").arg(&from).arg(to).status().unwrap();
    assert!(status.success(), "copy {from:?}");
}

/// An experiment of exp 0.1 (schema 2, a journal without checksums, a
/// runner SIGKILLed while it ran c3) loads, its dead claim is recovered, a
/// run finishes it, and its first rewrite is in this release's format.
#[test]
fn an_experiment_of_exp_0_1_loads_recovers_and_runs_on() {
    let dir = Dir::new();
    copy_fixture("exp-0.1-experiment", &dir.exp());
    // Its commands ran in the folder it was made in; here, in ours.
    let state = dir.read("exp/experiment.yaml").replace("\"/tmp/oldfx\"", &format!("{:?}", dir.path()));
    std::fs::write(dir.exp().join("experiment.yaml"), state).unwrap();
    // The dead runner's heartbeat is an hour old, whatever host this is.
    for entry in std::fs::read_dir(dir.exp().join(".exp/runners")).unwrap() {
        let status = Command::new("touch").args(["-d", "1 hour ago"]).arg(entry.unwrap().path()).status();
        assert!(status.unwrap().success());
    }

    let rows = by_name(&dir);
    let statuses: Vec<(&str, &str)> =
        rows.iter().map(|(name, row)| (name.as_str(), row["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [("c0", "done"), ("c1", "done"), ("c2", "done"), ("c3", "todo"), ("c4", "todo")]);
    assert_eq!(rows["c3"]["attempts"], 1, "the killed attempt counts");
    assert!(rows.values().all(|row| row["commit"].is_null()), "records without a commit load");

    dir.run("exp-init", &["--update", "--shell", r#"echo "{{\"loss\": $EXP_PARAM_I}}""#]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let summary = dir.run("exp-summary", &["--json"]).succeeds().json_lines();
    let losses: Vec<i64> = summary.iter().map(|row| row["result"]["loss"].as_i64().unwrap()).collect();
    assert_eq!(losses, [0, 1, 2, 3, 4]);

    // Rewritten in this release's format: an earlier release refuses it
    // (a newer schema) rather than append journal lines without checksums.
    dir.run("exp-clean", &[]).succeeds();
    let state = dir.read("exp/experiment.yaml");
    assert!(state.starts_with("schema_version: 3\n"), "{state}");
    let journal = dir.read("exp/.exp/journal.jsonl");
    let header: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    assert_eq!(header["checksums"], "crc32c", "{journal}");
}
