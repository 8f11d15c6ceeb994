//! `exp-clean` from the user's side: `--keep` (identity by value), `--names`
//! (bare or JSON lines, unknown names), `--purge`, `--reset-failed`,
//! `--reset`, `--dry-run`, running configs left alone, a clean racing a
//! runner, housekeeping and usage errors.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn changed(out: &Out) -> Vec<(String, String, String)> {
    out.json_lines()
        .iter()
        .map(|line| {
            let field =
                |key: &str| line[key].as_str().unwrap_or_else(|| panic!("{key} in {line}")).to_string();
            (field("name"), field("action"), field("status"))
        })
        .collect()
}

fn triple(name: &str, action: &str, status: &str) -> (String, String, String) {
    (name.to_string(), action.to_string(), status.to_string())
}

/// Six configs `{a}-{b}` over a=1,2,3 and b=x,y with a default seed=0, all
/// run once (each has a folder); the ones with a=3 fail.
fn six(dir: &Dir) {
    dir.init(
        &["--naming", "{a}-{b}"],
        &["sh", "-c", r#"echo "$0" >> runs.txt; test "$1" != 3"#, "{name}", "{a}"],
    );
    dir.run("exp-add", &["--default", "seed=0", "--grid", "a=1,2,3", "--grid", "b=x,y"]).succeeds();
    dir.run("exp-run", &["-j2"]).fails_with(1);
    assert_eq!(names(&dir.status()), ["1-x", "1-y", "2-x", "2-y", "3-x", "3-y"]);
}

// ---------- removing ----------

#[test]
fn keep_removes_every_config_whose_identity_is_not_listed() {
    let dir = Dir::new();
    six(&dir);
    // Key order, 1.0 for 1 and an explicit default do not matter.
    let keep = "{\"b\": \"x\", \"a\": 1.0, \"seed\": 0}\n{\"a\": 2, \"b\": \"y\"}\n{\"seed\": 0.0, \"b\": \"x\", \"a\": 3}\n";
    let out = dir.run_stdin("exp-clean", &["--keep", "-"], keep);
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(
        lines,
        [
            json!({"name": "1-y", "action": "remove", "status": "done", "params": {"a": 1, "b": "y", "seed": 0}, "purged": false}),
            json!({"name": "2-x", "action": "remove", "status": "done", "params": {"a": 2, "b": "x", "seed": 0}, "purged": false}),
            json!({"name": "3-y", "action": "remove", "status": "failed", "params": {"a": 3, "b": "y", "seed": 0}, "purged": false}),
        ]
    );
    assert_eq!(names(&dir.status()), ["1-x", "2-y", "3-x"]);
    for name in ["1-x", "1-y", "2-x", "2-y", "3-x", "3-y"] {
        assert!(dir.config(name).is_dir(), "{name}'s folder stays without --purge");
    }

    // From a file too; a second clean with the same list changes nothing.
    std::fs::write(dir.path().join("keep.jsonl"), keep).unwrap();
    let before = dir.state();
    let out = dir.run("exp-clean", &["--keep", "keep.jsonl"]);
    out.succeeds().no_stdout();
    assert_eq!(names(&dir.status()), ["1-x", "2-y", "3-x"]);
    assert_eq!(dir.state(), before);

    // A removed config does not come back with a run (which runs nothing:
    // the failed config failed in an earlier run, so exit 0).
    dir.run("exp-run", &[]).succeeds();
    assert_eq!(names(&dir.status()), ["1-x", "2-y", "3-x"]);
}

#[test]
fn purge_deletes_the_folders_of_removed_configs() {
    let dir = Dir::new();
    six(&dir);
    let keep = "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2, \"b\": \"x\"}\n{\"a\": 2, \"b\": \"y\"}\n{\"a\": 3, \"b\": \"x\"}\n";
    let out = dir.run_stdin("exp-clean", &["--keep", "-", "--purge"], keep);
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for line in &lines {
        assert_eq!(line["action"], "remove");
        assert_eq!(line["purged"], true, "{line}");
    }
    assert_eq!(names(&dir.status()), ["1-x", "2-x", "2-y", "3-x"]);
    assert!(!dir.config("1-y").is_dir() && !dir.config("3-y").is_dir());
    assert!(["1-x", "2-x", "2-y", "3-x"].iter().all(|name| dir.config(name).is_dir()));

    let out = dir.run_stdin("exp-clean", &["--names", "-", "--purge"], "2-x\n");
    out.succeeds();
    assert_eq!(out.json_lines()[0]["purged"], true);
    assert!(!dir.config("2-x").is_dir());
    assert_eq!(names(&dir.status()), ["1-x", "2-y", "3-x"]);
}

#[test]
fn names_removes_the_listed_configs_bare_or_piped_from_exp_status() {
    let dir = Dir::new();
    six(&dir);
    let failed = dir.run("exp-status", &["--json", "--status", "failed"]).succeeds().stdout.clone();
    let out = dir.run_stdin("exp-clean", &["--names", "-"], &failed);
    out.succeeds();
    assert_eq!(changed(&out), [triple("3-x", "remove", "failed"), triple("3-y", "remove", "failed")]);
    assert_eq!(names(&dir.status()), ["1-x", "1-y", "2-x", "2-y"]);

    std::fs::write(dir.path().join("names.txt"), "2-y\n\n1-x\n").unwrap();
    let out = dir.run("exp-clean", &["--names", "names.txt"]);
    out.succeeds();
    assert_eq!(changed(&out), [triple("1-x", "remove", "done"), triple("2-y", "remove", "done")]);
    assert_eq!(names(&dir.status()), ["1-y", "2-x"]);
    assert!(dir.config("1-x").is_dir(), "the folder stays without --purge");
}

#[test]
fn an_unknown_name_is_exit_2_and_changes_nothing() {
    let dir = Dir::new();
    six(&dir);
    let before = dir.state();
    for args in [&["--names", "-"][..], &["--names", "-", "--reset"], &["--names", "-", "--purge"]] {
        let out = dir.run_stdin("exp-clean", args, "1-x\nnope\n");
        out.fails_with(2).no_stdout().stderr_has("nope"); // names the unknown config
        assert_eq!(dir.state(), before, "{args:?}");
    }
    assert_eq!(names(&dir.status()).len(), 6);
    assert!(dir.config("1-x").is_dir());
}

// ---------- resetting ----------

#[test]
fn reset_failed_puts_failed_configs_back_and_a_run_reruns_exactly_those() {
    let dir = Dir::new();
    // c2 and c4 fail until TMP/fixed exists.
    shell_experiment(
        &dir,
        5,
        r#"echo "$EXP_NAME" >> runs.txt; [ -e fixed ] || [ "$EXP_PARAM_I" != 2 -a "$EXP_PARAM_I" != 4 ]"#,
    );
    dir.run("exp-run", &["-j2"]).fails_with(1);
    let out = dir.run("exp-clean", &["--reset-failed"]);
    out.succeeds();
    assert_eq!(changed(&out), [triple("c2", "reset", "failed"), triple("c4", "reset", "failed")]);
    assert!(out.json_lines().iter().all(|line| line.get("purged").is_none()), "{out:?}");
    let expected: BTreeMap<String, String> =
        [("c0", "done"), ("c1", "done"), ("c2", "todo"), ("c3", "done"), ("c4", "todo")]
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string()))
            .collect();
    assert_eq!(statuses(&dir), expected);

    touch(&dir, "fixed");
    dir.run("exp-run", &["-j2"]).succeeds();
    assert!(statuses(&dir).values().all(|s| s == "done"));
    let expected: BTreeMap<String, usize> = [("c0", 1), ("c1", 1), ("c2", 2), ("c3", 1), ("c4", 2)]
        .iter()
        .map(|(n, c)| (n.to_string(), *c))
        .collect();
    assert_eq!(runs(&dir), expected);
}

#[test]
fn reset_puts_listed_configs_back_even_done_ones_and_the_rerun_keeps_earlier_logs() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, r#"echo "$EXP_NAME" >> runs.txt; echo "attempt $EXP_ATTEMPT""#);
    dir.run("exp-run", &[]).succeeds();
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n");
    out.succeeds();
    assert_eq!(
        out.json_lines(),
        [json!({"name": "c1", "action": "reset", "status": "done", "params": {"i": 1}})]
    );
    assert_eq!(statuses(&dir)["c1"], "todo");
    assert!(dir.config("c1").is_dir());

    dir.run("exp-run", &[]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "done");
    assert_eq!(rows["c1"]["attempts"], 2, "{}", rows["c1"]);
    assert_eq!(rows["c0"]["attempts"], 1);
    assert_eq!(dir.read("exp/configs/c1/stdout.log"), "attempt 2\n");
    assert_eq!(dir.read("exp/configs/c1/stdout.1.log"), "attempt 1\n");
    let expected: BTreeMap<String, usize> =
        [("c0", 1), ("c1", 2), ("c2", 1)].iter().map(|(n, c)| (n.to_string(), *c)).collect();
    assert_eq!(runs(&dir), expected);
}

#[test]
fn reset_of_a_config_that_is_todo_already_changes_nothing_and_says_so() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, "true");
    dir.run("exp-run", &["--limit", "1"]).succeeds();
    let before = dir.state();
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n");
    out.succeeds();
    assert!(out.json_lines().is_empty(), "one line per config changed, and none was: {out:?}");
    out.stderr_has("already todo").stderr_has("c1");
    assert_eq!(dir.state(), before);
}

// ---------- dry runs ----------

#[test]
fn dry_run_prints_what_it_would_change_and_changes_nothing() {
    let dir = Dir::new();
    six(&dir);
    let before = dir.state();
    let keep = "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 3, \"b\": \"x\"}\n";

    let out = dir.run_stdin("exp-clean", &["--keep", "-", "--purge", "--dry-run"], keep);
    out.succeeds();
    let would = changed(&out);
    assert_eq!(
        would,
        [
            triple("1-y", "remove", "done"),
            triple("2-x", "remove", "done"),
            triple("2-y", "remove", "done"),
            triple("3-y", "remove", "failed")
        ]
    );
    let out = dir.run("exp-clean", &["--reset-failed", "--dry-run"]);
    out.succeeds();
    assert_eq!(changed(&out), [triple("3-x", "reset", "failed"), triple("3-y", "reset", "failed")]);
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--reset", "--dry-run"], "1-x\n");
    out.succeeds();
    assert_eq!(changed(&out), [triple("1-x", "reset", "done")]);

    assert_eq!(dir.state(), before, "nothing changed");
    assert_eq!(names(&dir.status()).len(), 6);
    assert!(["1-x", "1-y", "2-x", "2-y", "3-x", "3-y"].iter().all(|n| dir.config(n).is_dir()));

    // The real thing does what the dry run said.
    let out = dir.run_stdin("exp-clean", &["--keep", "-", "--purge"], keep);
    out.succeeds();
    assert_eq!(changed(&out), would);
    assert_eq!(names(&dir.status()), ["1-x", "3-x"]);
}

// ---------- running configs and runners ----------

#[test]
fn a_running_config_is_never_touched() {
    let dir = Dir::new();
    gated_experiment(&dir, 2, "");
    let runner = Bg::run(&dir, &["-j1", "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    let before = dir.state();

    for (args, input) in [
        (&["--names", "-"][..], "c0\n"),
        (&["--names", "-", "--purge"], "c0\n"),
        (&["--names", "-", "--reset"], "{\"name\": \"c0\"}\n"),
        (&["--keep", "-"], "{\"i\": 1}\n"),
    ] {
        let out = dir.run_stdin("exp-clean", args, input);
        out.succeeds();
        assert!(out.stdout.is_empty(), "{args:?}: nothing changed: {out:?}");
        assert!(out.stderr.contains("skipped") && out.stderr.contains("c0"), "{args:?}: says so: {out:?}");
        assert_eq!(dir.state(), before, "{args:?}");
    }
    let out = dir.run("exp-clean", &["--reset-failed"]);
    out.succeeds().no_stdout();
    assert_eq!(by_name(&dir)["c0"]["status"], "running");
    assert!(dir.config("c0").is_dir());

    release(&dir);
    runner.finish().succeeds();
    assert_eq!(statuses(&dir).values().collect::<Vec<_>>(), ["done", "done"]);
}

#[test]
fn a_clean_during_a_run_loses_nothing() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("marks")).unwrap();
    // Every command waits for TMP/go; those with i % 5 == 3 fail on their
    // first run; each appends "NAME ok" or "NAME fail" to runs.txt.
    let script = r#"while [ ! -e go ]; do sleep 0.02; done
if [ $((EXP_PARAM_I % 5)) -eq 3 ] && mkdir "marks/$EXP_NAME" 2>/dev/null; then echo "$EXP_NAME fail" >> runs.txt; exit 1; fi
sleep 0.02
echo "$EXP_NAME ok" >> runs.txt"#;
    let n = 40;
    shell_experiment(&dir, n, script);
    let all: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();

    let mut runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    // Removed config -> its status when removed.
    let mut removed: BTreeMap<String, String> = BTreeMap::new();
    let mut released = false;
    loop {
        let exited = runner.exited().is_some();
        let rows = by_name(&dir);
        // Remove a few of the odd-numbered configs not run yet; keep the rest.
        let doomed: BTreeSet<&String> = rows
            .iter()
            .filter(|(_, row)| row["status"] == "todo" && row["params"]["i"].as_u64().unwrap() % 2 == 1)
            .map(|(name, _)| name)
            .take(3)
            .collect();
        let keep: String = rows
            .iter()
            .filter(|(name, _)| !doomed.contains(name))
            .map(|(_, row)| format!("{}\n", row["params"]))
            .collect();
        let out = dir.run_stdin("exp-clean", &["--keep", "-"], &keep);
        out.succeeds();
        for line in out.json_lines() {
            assert_eq!(line["action"], "remove", "{line}");
            let name = line["name"].as_str().unwrap().to_string();
            assert!(doomed.contains(&name), "only a doomed config is removed: {line}");
            assert!(removed.insert(name, line["status"].as_str().unwrap().to_string()).is_none(), "{line}");
        }
        let out = dir.run("exp-clean", &["--reset-failed"]);
        out.succeeds();
        assert!(out.json_lines().iter().all(|line| line["action"] == "reset" && line["status"] == "failed"));
        if !released {
            // The first clean ran while the first commands were held back.
            assert!(!removed.is_empty(), "something was removed before anything ran");
            touch(&dir, "go");
            released = true;
        }
        if exited {
            break;
        }
    }
    let out = runner.finish();
    assert!(matches!(out.code, Some(0 | 1)), "{out:?}");
    // Finish what the loop left failed or todo.
    dir.run("exp-clean", &["--reset-failed"]).succeeds();
    dir.run("exp-run", &["-j2"]).succeeds();

    let kept: Vec<&String> = all.iter().filter(|name| !removed.contains_key(*name)).collect();
    let rows = by_name(&dir);
    assert_eq!(rows.len(), kept.len(), "{rows:?}");
    for name in &kept {
        assert_eq!(rows.get(*name).map(|row| &row["status"]), Some(&Value::from("done")), "{name}: {rows:?}");
    }
    for name in removed.keys() {
        assert!(!rows.contains_key(name), "{name} came back");
    }
    let lines = runs(&dir);
    let count = |name: &str, what: &str| lines.get(&format!("{name} {what}")).copied().unwrap_or(0);
    for name in &all {
        assert!(count(name, "ok") <= 1, "{name} ran twice: {lines:?}");
        assert!(count(name, "fail") <= 1, "{name} failed twice: {lines:?}");
    }
    for name in &kept {
        assert_eq!(count(name, "ok"), 1, "{name}: {lines:?}");
    }
    for (name, status) in &removed {
        if status == "todo" {
            assert_eq!(count(name, "ok"), 0, "{name} ran after its removal: {lines:?}");
        }
    }
}

// ---------- housekeeping and usage ----------

#[test]
fn with_no_option_it_does_housekeeping_and_exits_0() {
    let dir = Dir::new();
    six(&dir);
    let before = dir.run("exp-status", &["--json"]).succeeds().stdout.clone();
    let out = dir.run("exp-clean", &[]);
    out.succeeds().no_stdout();
    assert_eq!(dir.run("exp-status", &["--json"]).succeeds().stdout, before);
}

#[test]
fn reset_without_names_and_purge_without_a_removal_are_usage_errors() {
    let dir = Dir::new();
    six(&dir);
    let before = dir.state();
    for (args, input) in [
        (&["--reset"][..], ""),
        (&["--reset", "--reset-failed"], ""),
        (&["--purge"], ""),
        (&["--purge", "--reset-failed"], ""),
        (&["--names", "-", "--reset", "--purge"], "3-x\n"),
    ] {
        let out = dir.run_stdin("exp-clean", args, input);
        out.fails_with(2);
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
        assert_eq!(dir.state(), before, "{args:?}");
    }
    assert_eq!(names(&dir.status()).len(), 6);
}

/// The names listed in `results_summary.csv`, or None without one.
fn summary_rows(dir: &Dir) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(dir.exp().join("results_summary.csv")).ok()?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    Some(reader.records().map(|r| r.expect("a CSV record")[0].to_string()).collect())
}

#[test]
fn results_summary_csv_never_tells_of_a_state_that_is_gone() {
    // A run writes the summary as its last config ends, while a clean puts
    // a config back to todo or removes some: whatever the interleaving,
    // the file exists only when every config is done, listing exactly them.
    let dir = Dir::new();
    // Big results, so that reading them all takes a while.
    let pad = "x".repeat(200_000);
    std::fs::write(dir.path().join("result.json"), format!("{{\"v\": 1, \"pad\": \"{pad}\"}}")).unwrap();
    let result = dir.path().join("result.json").display().to_string();
    shell_experiment(&dir, 60, &format!("cp '{result}' \"$EXP_RESULT\""));
    dir.run("exp-run", &["-j2", "-q"]).succeeds();
    for round in 0..6 {
        let last = format!("c{}", 59 - round);
        dir.run_stdin("exp-clean", &["--names", "-", "--reset"], &format!("{last}\n")).succeeds();
        let runner = Bg::run(&dir, &["-q"]);
        std::thread::sleep(std::time::Duration::from_millis(40 * round as u64));
        let (flag, input) = if round % 2 == 0 { ("--reset", "c0\n") } else { ("--purge", "c1\n") };
        let args: &[&str] =
            if flag == "--purge" { &["--names", "-", "--purge"] } else { &["--names", "-", flag] };
        dir.run_stdin("exp-clean", args, input).succeeds();
        runner.finish().succeeds();
        let rows = by_name(&dir);
        let done: BTreeSet<String> =
            rows.iter().filter(|(_, row)| row["status"] == "done").map(|(name, _)| name.clone()).collect();
        match summary_rows(&dir) {
            Some(listed) => {
                assert_eq!(done.len(), rows.len(), "round {round}: a summary while not all are done");
                assert_eq!(listed, done, "round {round}");
            }
            None => {
                assert!(done.len() < rows.len() || rows.is_empty(), "round {round}: all done, no summary")
            }
        }
        if round % 2 == 1 {
            // Put the removed one back, for the next rounds.
            dir.run("exp-add", &["--grid", "i=1"]).succeeds();
        }
        dir.run("exp-run", &["-q"]).succeeds();
        let all: BTreeSet<String> = by_name(&dir).into_keys().collect();
        assert_eq!(summary_rows(&dir), Some(all), "round {round}: a complete run leaves a true summary");
    }
}
