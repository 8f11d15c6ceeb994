//! `exp-status --json` and `--names` print a config at a time as they read
//! it: on a big experiment (its changes waiting in the journal), the order
//! of a whole read, the journal applied, the same first listing from
//! `--watch --json`; a damaged state file is exit 3 before a line is printed.

use crate::harness::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// A big experiment (`c0..c7999`) whose c7 fails, with changes the state
/// file does not hold yet: c10, c7 and c4000 ran, c4000 twice; then two
/// configs added (`c8000`, `c8001`), c8001 run. Returns every name in the
/// order a listing gives: the state file's, then the added ones.
fn big_with_journal(dir: &Dir) -> Vec<String> {
    let mut names = big_experiment(dir);
    let failing = r#"[ "$EXP_PARAM_I" -ne 7 ]"#;
    dir.run("exp-init", &["--update", "--naming", "c{i}", "--shell", failing]).succeeds();
    dir.run_stdin("exp-run", &["--names", "-", "-q", "--progress", "never"], "c4000\nc10\nc7\n")
        .fails_with(1);
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c4000\n").succeeds();
    dir.run_stdin("exp-run", &["--names", "-", "-q", "--progress", "never"], "c4000\n").succeeds();
    let added = "{\"i\":8000,\"pad\":\"y\"}\n{\"i\":8001,\"pad\":\"y\"}\n";
    dir.run_stdin("exp-add", &["-f", "-"], added).succeeds();
    dir.run_stdin("exp-run", &["--names", "-", "-q", "--progress", "never"], "c8001\n").succeeds();
    names.extend(["c8000".to_string(), "c8001".to_string()]);
    // What this is about: the changes are in the journal, not the state file.
    let state = String::from_utf8(dir.state_file()).unwrap();
    assert!(!state.contains("\"c8001\"") && !state.contains("\"done\""), "the state file was rewritten");
    names
}

/// The `--json` rows: names in order, and statuses by name.
fn listing(stdout: &str) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let rows: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let statuses = rows
        .iter()
        .map(|row| (row["name"].as_str().unwrap().to_string(), row["status"].as_str().unwrap().to_string()))
        .collect();
    (names(&rows), statuses)
}

#[test]
fn rows_come_in_the_state_files_order_then_added_ones_with_the_journal_applied() {
    let dir = Dir::new();
    let expected = big_with_journal(&dir);
    let out = dir.run("exp-status", &["--json"]);
    let (listed, statuses) = listing(&out.succeeds().stdout);
    assert_eq!(listed, expected, "state order, then added in the journal's order, each once");
    for (name, status) in [("c10", "done"), ("c7", "failed"), ("c4000", "done"), ("c8001", "done")] {
        assert_eq!(statuses[name], status, "{name}");
    }
    assert_eq!(statuses.values().filter(|s| *s == "todo").count(), 7998);
    let row = out.row("c4000");
    assert_eq!(row["attempts"], 2, "its latest record wins: {row}");
    let out = dir.run("exp-status", &["--names"]);
    assert_eq!(out.succeeds().stdout, expected.iter().map(|n| format!("{n}\n")).collect::<String>());
    let done = dir.run("exp-status", &["--json", "--status", "done", "--status", "failed"]);
    let done = names(&done.succeeds().json_lines());
    assert_eq!(done, ["c7", "c10", "c4000", "c8001"]);
}

#[test]
fn watch_lists_what_json_lists_then_tells_each_change() {
    let dir = Dir::new();
    let expected = big_with_journal(&dir);
    let listed = dir.run("exp-status", &["--json"]).succeeds().stdout.clone();
    let mut watcher = dir.cmd("exp-status");
    watcher.args(["exp", "--watch", "--json"]).stdin(Stdio::null()).stdout(Stdio::piped());
    let mut watcher = watcher.stderr(Stdio::null()).spawn().expect("spawn the watcher");
    let mut reader = BufReader::new(watcher.stdout.take().unwrap());
    let mut first = String::new();
    for _ in &expected {
        assert!(reader.read_line(&mut first).unwrap() > 0, "the watcher ended early");
    }
    assert_eq!(first, listed, "first, every config as --json lists it");
    // Then a change, told against the state it listed.
    dir.run_stdin("exp-run", &["--names", "-", "-q", "--progress", "never"], "c8000\n").succeeds();
    let mut told = Vec::new();
    while told.last().is_none_or(|line: &Value| line["status"] != "done") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the watcher ended early");
        told.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    let told: Vec<(&str, &str)> =
        told.iter().map(|l| (l["name"].as_str().unwrap(), l["status"].as_str().unwrap())).collect();
    assert_eq!(told, [("c8000", "running"), ("c8000", "done")]);
    drop(reader);
    let _ = watcher.kill();
    let _ = watcher.wait();
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_quietly() {
    let dir = Dir::new();
    big_with_journal(&dir);
    let mut status = dir.cmd("exp-status");
    status.args(["exp", "--json"]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut status = status.spawn().expect("spawn");
    let mut reader = BufReader::new(status.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"name\":\"c0\""), "{line}");
    drop(reader);
    let out = Out::of(status.wait_with_output().unwrap());
    out.succeeds();
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// Every listing of a damaged state file is exit 3 before a line is
/// printed, with `why` on stderr; the file is left as it is.
fn refused_before_a_line(dir: &Dir, damaged: &[u8], why: &str) {
    std::fs::write(dir.state_path(), damaged).unwrap();
    for args in [&["--json"][..], &["--names"], &["--json", "--status", "todo"], &["--watch", "--json"]] {
        let out = run_bounded(dir, "exp-status", args);
        out.fails_with(3).no_stdout().stderr_has(why);
        assert_eq!(dir.state_file(), damaged, "{args:?} changed the file");
    }
}

#[test]
fn a_state_file_cut_short_is_exit_3_with_nothing_printed() {
    let dir = Dir::new();
    big_with_journal(&dir);
    let whole = dir.state_file();
    let end = whole[..whole.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let middle = whole.len() / 2;
    let line_end = middle + whole[middle..].iter().position(|&b| b == b'\n').unwrap() + 1;
    // Cut inside a line, after a whole line, inside the end line, before its newline.
    for cut in [middle, line_end, end + 10, whole.len() - 1] {
        refused_before_a_line(&dir, &whole[..cut], "experiment.yaml");
    }
    // Every line whole, one config's lost: the end line's count tells.
    let text = String::from_utf8(whole.clone()).unwrap();
    let lost = text.replace("  \"c5000\": ", "# \"c5000\": ");
    let lost: String =
        lost.lines().filter(|line| !line.starts_with("# \"c5000\"")).map(|l| format!("{l}\n")).collect();
    refused_before_a_line(&dir, lost.as_bytes(), "end line says 8000");
    std::fs::write(dir.state_path(), &whole).unwrap();
    assert_eq!(dir.status().len(), 8002, "whole again, it lists every config");
}

#[test]
fn a_name_given_twice_or_unsafe_is_exit_3_with_nothing_printed() {
    let dir = Dir::new();
    big_with_journal(&dir);
    let whole = String::from_utf8(dir.state_file()).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let c6000 = lines.iter().position(|line| line.starts_with("  \"c6000\": ")).unwrap();
    // c6000's line given again in place of c6001's: the count still holds.
    let mut twice = lines.clone();
    twice[c6000 + 1] = lines[c6000];
    refused_before_a_line(&dir, (twice.join("\n") + "\n").as_bytes(), "\"c6000\" is given twice");
    // A name that is no safe folder name, late in the file.
    let unsafe_name = whole.replace("  \"c7999\": ", "  \"../c7999\": ");
    refused_before_a_line(&dir, unsafe_name.as_bytes(), "not a safe folder name");
}
