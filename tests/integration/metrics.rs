//! `$EXP_METRICS`: the file per attempt, replays, the last line in
//! `exp-status` (human and `--json --results`), bad lines, FIFOs and big
//! files, `exp-summary --metrics`, and the rate and ETA of exp-run's plain
//! lines.

use crate::harness::*;
use serde_json::{json, Value};

/// Append a metrics line (a JSON text, quoted for `sh` by the caller).
fn append(line: &str) -> String {
    format!("echo '{line}' >> \"$EXP_METRICS\"")
}

/// A shell line as a command template: its braces literal.
fn literal(script: &str) -> String {
    script.replace('{', "{{").replace('}', "}}")
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

#[test]
fn each_attempt_appends_to_exp_metrics_and_an_earlier_attempts_file_is_kept() {
    let dir = Dir::new();
    // Fails its first attempt, after a metrics line.
    let script = format!(
        r#"echo "$EXP_METRICS"; {}; test "$EXP_ATTEMPT" -ge 2"#,
        append(r#"{"attempt_was": '"$EXP_ATTEMPT"'}"#)
    );
    sweep(&dir, &literal(&script), 1);
    dir.run("exp-run", &["--retries", "1"]).succeeds();
    let given = dir.config_file("n1", "stdout.log");
    let given = std::path::Path::new(given.trim());
    assert!(given.is_absolute(), "{given:?}");
    assert_eq!(given, dir.config("n1").join("metrics.jsonl"));
    assert_eq!(dir.config_file("n1", "metrics.1.jsonl"), "{\"attempt_was\": 1}\n");
    assert_eq!(dir.config_file("n1", "metrics.jsonl"), "{\"attempt_was\": 2}\n");
    // A reset config runs again: its third attempt keeps the second's file.
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "n1\n").succeeds();
    dir.run("exp-run", &[]).succeeds();
    assert_eq!(dir.config_file("n1", "metrics.2.jsonl"), "{\"attempt_was\": 2}\n");
    assert_eq!(dir.config_file("n1", "metrics.jsonl"), "{\"attempt_was\": 3}\n");
    assert_eq!(dir.config_file("n1", "metrics.1.jsonl"), "{\"attempt_was\": 1}\n");
}

#[test]
fn a_config_that_writes_no_metrics_has_no_metrics_file() {
    let dir = Dir::new();
    sweep(&dir, "true", 1);
    dir.run("exp-run", &[]).succeeds();
    assert!(!dir.config("n1").join("metrics.jsonl").exists());
    let row = dir.run("exp-status", &["--json", "--results"]).succeeds().row("n1");
    assert_eq!(row["metrics"], Value::Null, "{row}");
}

#[test]
fn a_replay_writes_metrics_replay_jsonl_anew_and_never_the_recorded_file() {
    let dir = Dir::new();
    let script = format!(r#"{}; echo "$EXP_METRICS""#, append(r#"{"mode": "'"$EXP_CACHE_MODE"'"}"#));
    sweep(&dir, &literal(&script), 1);
    dir.run("exp-run", &[]).succeeds();
    let recorded = bytes(&dir.config("n1").join("metrics.jsonl"));
    for _ in 0..2 {
        let out = dir.run("exp-run", &["--replay", "n1"]);
        out.succeeds();
        assert_eq!(out.stdout.trim(), dir.config("n1").join("metrics.replay.jsonl").display().to_string());
        assert_eq!(dir.config_file("n1", "metrics.replay.jsonl"), "{\"mode\": \"replay\"}\n", "one replay's");
    }
    assert_eq!(bytes(&dir.config("n1").join("metrics.jsonl")), recorded);
    assert_eq!(String::from_utf8(recorded).unwrap(), "{\"mode\": \"record\"}\n");
}

#[test]
fn status_json_results_carries_the_last_metrics_line_and_plain_json_no_metrics() {
    let dir = Dir::new();
    // c0: two lines and one still being written; c1: none.
    let script = format!(
        r#"[ "$EXP_NAME" = c1 ] && exit 0
{}
{}
printf '{{"step": 3' >> "$EXP_METRICS""#,
        append(r#"{"step": 1, "loss": 0.9}"#),
        append(r#"{"step": 2, "loss": 0.41, "val": {"acc": 0.8}}"#)
    );
    shell_experiment(&dir, 2, &literal(&script));
    dir.run("exp-run", &[]).succeeds();
    let rows = dir.run("exp-status", &["--json", "--results"]).succeeds().rows_by_name();
    assert_eq!(rows["c0"]["metrics"], json!({"step": 2, "loss": 0.41, "val": {"acc": 0.8}}));
    assert_eq!(rows["c1"]["metrics"], Value::Null);
    assert!(rows["c1"].as_object().unwrap().contains_key("metrics"), "null, not absent");
    for row in dir.status() {
        assert!(!row.as_object().unwrap().contains_key("metrics"), "plain --json reads no folder: {row}");
    }
    // jq picks the last loss of every config.
    let out = through_jq(
        &dir,
        "exp-status",
        &["--json", "--results"],
        &["-r", r#".name + " " + (.metrics.loss|tostring)"#],
    );
    assert_eq!(out.stdout, "c0 0.41\nc1 null\n");
}

#[test]
fn lines_that_are_not_json_objects_are_skipped_with_one_warning_per_config() {
    let dir = Dir::new();
    let script = format!(
        "{}\necho 'not json' >> \"$EXP_METRICS\"\necho '[1, 2]' >> \"$EXP_METRICS\"\n{}\necho '{{oops' >> \"$EXP_METRICS\"",
        append(r#"{"step": 1}"#),
        append(r#"{"step": 2}"#)
    );
    shell_experiment(&dir, 2, &literal(&script));
    dir.run("exp-run", &[]).succeeds();

    let out = dir.run("exp-status", &["--json", "--results"]);
    out.succeeds();
    for (name, row) in out.rows_by_name() {
        assert_eq!(row["metrics"], json!({"step": 2}), "{name}");
    }
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("metrics.jsonl")).collect();
    assert_eq!(warnings.len(), 2, "one per config: {out:?}");
    assert!(warnings.iter().any(|l| l.contains("/c0/")) && warnings.iter().any(|l| l.contains("/c1/")));

    let out = dir.run("exp-summary", &["--metrics"]);
    out.succeeds();
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(header, ["name", "i", "attempt", "step"]);
    assert_eq!(rows.len(), 4, "two good lines each: {out:?}");
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains("metrics.jsonl")).collect();
    assert_eq!(warnings.len(), 2, "one per config: {out:?}");
    for warning in warnings {
        assert!(warning.contains(": line 2 is not a JSON object (and 2 more); skipped"), "{warning}");
    }
}

#[test]
fn a_fifo_in_place_of_metrics_jsonl_blocks_no_tool() {
    let dir = Dir::new();
    // The FIFO stays while the bars (forced on, off a terminal) look at it
    // several times; the second attempt moves it aside.
    sweep(&dir, r#"mkfifo "$EXP_METRICS"; sleep 1; test "$EXP_ATTEMPT" -ge 2"#, 1);
    let out = run_bounded(&dir, "exp-run", &["--progress", "always", "--retries", "1"]);
    out.succeeds();
    let fifo = dir.config("n1").join("metrics.jsonl");
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::symlink_metadata(dir.config("n1").join("metrics.1.jsonl"))
        .unwrap()
        .file_type()
        .is_fifo());

    let out = run_bounded(&dir, "exp-status", &["--json", "--results"]);
    out.succeeds().stderr_has("not a regular file");
    assert_eq!(out.row("n1")["metrics"], Value::Null);
    let out = run_bounded(&dir, "exp-summary", &["--metrics"]);
    out.succeeds().stderr_has("not a regular file");
    assert_eq!(out.stdout.lines().count(), 1, "a header only: {out:?}");
    run_bounded(&dir, "exp-status", &["--json"]).succeeds().stderr_lacks("metrics");
}

#[test]
fn a_big_metrics_file_with_garbage_at_its_start_is_read_from_its_end() {
    let dir = Dir::new();
    // 50 MB of NUL bytes (sparse: written at once), then one good line.
    sweep(&dir, &literal(r#"truncate -s 50M "$EXP_METRICS"; printf '\n{"step": 9}\n' >> "$EXP_METRICS""#), 1);
    dir.run("exp-run", &[]).succeeds();
    assert!(std::fs::metadata(dir.config("n1").join("metrics.jsonl")).unwrap().len() > 50_000_000);
    let out = run_bounded(&dir, "exp-status", &["--json", "--results"]);
    out.succeeds().stderr_lacks("warning");
    assert_eq!(out.row("n1")["metrics"], json!({"step": 9}));
    // The whole curve skips the 50 MB line without holding it.
    let out = run_bounded(&dir, "exp-summary", &["--metrics", "--json"]);
    out.succeeds().stderr_has("line 1 is not a JSON object; skipped");
    assert_eq!(
        out.json_lines(),
        [json!({"name": "n1", "params": {"n": 1}, "attempt": 1, "metrics": {"step": 9}})]
    );
}

#[test]
fn the_human_status_shows_a_running_configs_metrics_line_else_its_last_output_line() {
    let dir = Dir::new();
    let long = "x".repeat(300);
    let before = format!(
        r#"case "$EXP_NAME" in
c0) {} ;;
c1) printf 'fit 1/20\rfit 12/20\r' >&2 ;;
c2) {} ;;
esac"#,
        append(r#"{"step": 3, "loss": 0.41}"#),
        append(&format!(r#"{{"note": "{long}"}}"#))
    );
    gated_experiment(&dir, 3, &literal(&before));
    let runner = Bg::run(&dir, &["-j3"]);
    wait_running(&dir, &["c0", "c1", "c2"]);
    let out = dir.run("exp-status", &[]);
    out.succeeds();
    let line = |name: &str| {
        let prefix = format!("  {name} ");
        out.stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{out:?}")).to_string()
    };
    assert!(line("c0").ends_with("  step=3 loss=0.41"), "{out:?}");
    assert!(line("c1").ends_with("  fit 12/20"), "{out:?}");
    let c2 = line("c2");
    assert!(c2.contains("note=xxx") && c2.ends_with('…'), "{c2:?}");
    assert_eq!(c2.chars().count(), 100, "cut at 100 columns off a terminal: {c2:?}");
    release_runner(&dir, runner);
}

#[test]
fn plain_lines_carry_the_runners_rate_and_an_eta() {
    let dir = Dir::new();
    sweep(&dir, "sleep 0.3", 3);
    let out = dir.run("exp-run", &[]);
    out.succeeds();
    let done: Vec<&str> = out.stderr.lines().filter(|l| l.contains(" done n")).collect();
    assert_eq!(done.len(), 3, "{out:?}");
    for line in &done[..2] {
        // `exp-run: [1/3] 19:18:00 9.5/min ETA 13s done n1 (0.3s)`
        let words: Vec<&str> = line.split(' ').collect();
        assert!(
            words[3].ends_with("/min") && words[3].trim_end_matches("/min").parse::<f64>().is_ok(),
            "{line}"
        );
        assert_eq!(words[4], "ETA", "{line}");
        assert!(words[5].ends_with('s') || words[5].ends_with('m'), "{line}");
        assert_eq!(words[6], "done", "{line}");
    }
    let last = done[2];
    assert!(last.contains("/min done n3"), "nothing left, no ETA: {last}");
}

#[test]
fn summary_metrics_gives_the_curves_in_long_form() {
    let dir = Dir::new();
    // A param named `attempt`; a metrics field named like a param. c0's
    // first attempt fails; c1 writes no metrics; c2 ends on a partial line.
    let script = format!(
        r#"[ "$EXP_NAME" = c1 ] && exit 0
{}
{}
printf '{{"step": 3' >> "$EXP_METRICS"
[ "$EXP_NAME" != c0 ] || [ "$EXP_ATTEMPT" -ge 2 ]"#,
        append(r#"{"step": 1, "loss": 0.5, "i": "'"$EXP_ATTEMPT"'"}"#),
        append(r#"{"step": 2, "loss": 0.25, "val": {"acc": 0.75}}"#)
    );
    dir.init(&["--naming", "c{i}", "--shell", &literal(&script)], &[]);
    dir.run("exp-add", &["--grid", "i=0..2", "--grid", "attempt=x"]).succeeds();
    dir.run("exp-run", &["--retries", "1"]).succeeds();

    let out = dir.run("exp-summary", &["--metrics"]);
    out.succeeds();
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(header, ["name", "i", "param.attempt", "attempt", "step", "loss", "metrics.i", "val.acc"]);
    let expected = [
        ["c0", "0", "x", "2", "1", "0.5", "2", ""],
        ["c0", "0", "x", "2", "2", "0.25", "", "0.75"],
        ["c2", "2", "x", "1", "1", "0.5", "1", ""],
        ["c2", "2", "x", "1", "2", "0.25", "", "0.75"],
    ];
    assert_eq!(rows, expected.map(|row| row.map(str::to_string)), "{out:?}");

    let out = dir.run("exp-summary", &["--metrics", "--json"]);
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(lines.len(), 4, "{out:?}");
    assert_eq!(
        lines[1],
        json!({"name": "c0", "params": {"i": 0, "attempt": "x"}, "attempt": 2,
               "metrics": {"step": 2, "loss": 0.25, "val": {"acc": 0.75}}})
    );
    // Any status, -o FILE, and the flags that mean nothing here refused.
    dir.run("exp-summary", &["--metrics", "-o", "curves.csv"]).succeeds();
    assert_eq!(dir.read("curves.csv").lines().count(), 5);
    for flag in ["--save", "--timing", "--ignore-missing"] {
        dir.run("exp-summary", &["--metrics", flag]).fails_with(2);
    }

    // Several experiments: a first column `experiment`, each DIR as given.
    let copy = Out::of(dir.program("cp").args(["-a", "exp", "exp2"]).output().unwrap());
    copy.succeeds();
    let out = Out::of(dir.cmd("exp-summary").args(["exp", "exp2", "--metrics"]).output().unwrap());
    out.succeeds();
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(header[..3], ["experiment", "name", "i"]);
    assert_eq!(rows.len(), 8);
    assert_eq!((rows[0][0].as_str(), rows[7][0].as_str()), ("exp", "exp2"));
    let out = Out::of(dir.cmd("exp-summary").args(["exp", "exp2", "--metrics", "--json"]).output().unwrap());
    assert_eq!(out.json_lines()[4]["experiment"], "exp2");
}

#[test]
fn a_watchers_ending_read_late_carries_the_metrics_of_its_own_attempt() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, &literal(&append(r#"{"attempt": '"$EXP_ATTEMPT"'}"#)));
    dir.run("exp-run", &["--limit", "1", "-q"]).succeeds();
    let watcher = Bg::spawn(&dir, "exp-status", &["--watch", "--json", "--results", "--status", "done"]);
    let lines = || -> Vec<Value> {
        let out = watcher.stdout();
        let whole = &out[..out.rfind('\n').map_or(0, |end| end + 1)];
        whole.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
    };
    wait_for("c0's line", || lines().len() == 1);
    assert_eq!(lines()[0]["metrics"], json!({"attempt": 1}));
    // While it sleeps, c1 ends, is reset, and runs again: metrics.jsonl is
    // the second attempt's when the watcher reads the first one's ending.
    watcher.signal(nix::sys::signal::Signal::SIGSTOP);
    dir.run("exp-run", &["-q"]).succeeds();
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n").succeeds();
    dir.run("exp-run", &["-q"]).succeeds();
    watcher.signal(nix::sys::signal::Signal::SIGCONT);
    wait_for("three endings", || lines().len() >= 3);
    let seen: Vec<(String, Value)> =
        lines().iter().map(|l| (l["name"].as_str().unwrap().to_string(), l["metrics"].clone())).collect();
    let (first, second) = (json!({"attempt": 1}), json!({"attempt": 2}));
    assert_eq!(seen, [("c0".to_string(), first.clone()), ("c1".into(), first), ("c1".into(), second)]);
}
