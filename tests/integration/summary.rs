//! `exp-summary` and `results_summary.csv` from the user's side: columns
//! (params, flattened results, clashes), number formatting, failed configs,
//! where results come from, `--json`, `--save`/`-o`, `--timing`, the summary
//! `exp-run` writes, and `exp-status --json --results` piped into jq.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::Stdio;

/// An experiment `c{i}` with `rows` as its configs; each command prints
/// `TMP/results/NAME.json` when it exists, and fails when `TMP/fail-NAME` does.
fn experiment(dir: &Dir, defaults: &[&str], rows: &[Value]) {
    std::fs::create_dir(dir.path().join("results")).unwrap();
    let script =
        r#"f="results/$EXP_NAME.json"; if [ -e "$f" ]; then cat "$f"; fi; test ! -e "fail-$EXP_NAME""#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    let mut args = vec![];
    for default in defaults {
        args.extend(["--default", default]);
    }
    let lines: String = rows.iter().map(|row| format!("{row}\n")).collect();
    let added = dir.run_stdin("exp-add", &args, &lines).succeeds().json_lines();
    assert_eq!(added.len(), rows.len());
}

/// What config `name`'s command prints as its last stdout line.
fn result(dir: &Dir, name: &str, text: &str) {
    std::fs::write(dir.path().join(format!("results/{name}.json")), format!("{text}\n")).unwrap();
}

fn summary(dir: &Dir, args: &[&str]) -> Table {
    let out = dir.run("exp-summary", args);
    out.succeeds();
    let table = Table::parse(&out.stdout);
    table.assert_well_formed();
    table
}

#[test]
fn columns_are_name_then_params_then_results_in_first_seen_order() {
    let dir = Dir::new();
    experiment(
        &dir,
        &["opt=adam"],
        &[
            json!({"i": 0, "lr": 0.1, "model": {"depth": 2, "act": "relu"}, "layers": [1, 2]}),
            json!({"i": 1, "lr": 0.01, "layers": [], "opt": "sgd"}),
            json!({"i": 2, "lr": 1}),
        ],
    );
    result(&dir, "c0", r#"{"loss": 0.5, "acc": 0.75}"#);
    result(&dir, "c1", r#"{"loss": 0.25, "extra": {"x": 1, "y": [true, null]}, "acc": 0.5}"#);
    dir.run("exp-run", &["-j2"]).succeeds();

    let table = summary(&dir, &[]);
    assert_eq!(
        table.header,
        ["name", "i", "lr", "model.depth", "model.act", "layers", "opt", "loss", "acc", "extra.x", "extra.y"]
    );
    assert_eq!(table.names(), ["c0", "c1", "c2"]);
    assert_eq!(table.rows[0], ["c0", "0", "0.1", "2", "relu", "[1,2]", "adam", "0.5", "0.75", "", ""]);
    assert_eq!(table.rows[1], ["c1", "1", "0.01", "", "", "[]", "sgd", "0.25", "0.5", "1", "[true,null]"]);
    assert_eq!(table.rows[2], ["c2", "2", "1", "", "", "", "adam", "", "", "", ""]);
}

#[test]
fn a_result_field_clashing_with_a_param_is_prefixed_and_nothing_is_overwritten() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0, "lr": 0.1}), json!({"i": 1, "lr": 0.2})]);
    result(&dir, "c0", r#"{"lr": 0.05, "name": "mine", "a.b": 1, "a": {"b": 2}, "": 3}"#);
    result(&dir, "c1", r#"{"lr": 0.07}"#);
    dir.run("exp-run", &[]).succeeds();

    let table = summary(&dir, &[]);
    assert_eq!(table.header, ["name", "i", "lr", "result.lr", "result.name", r#""a.b""#, "a.b", r#""""#]);
    assert_eq!(table.cell("c0", "lr"), "0.1");
    assert_eq!(table.cell("c0", "result.lr"), "0.05");
    assert_eq!(table.cell("c1", "lr"), "0.2");
    assert_eq!(table.cell("c1", "result.lr"), "0.07");
    assert_eq!(table.cell("c0", "name"), "c0", "a result's `name` does not replace the config's");
    assert_eq!(table.cell("c0", "result.name"), "mine");
    assert_eq!(table.cell("c0", r#""a.b""#), "1");
    assert_eq!(table.cell("c0", "a.b"), "2");
    assert_eq!(table.cell("c0", r#""""#), "3");
    assert_eq!(table.cell("c1", "a.b"), "");
}

#[test]
fn numbers_are_written_as_json_writes_them() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0, "lr": 0.1, "wd": 1e-7, "k": 3, "big": 12345678901234567u64})]);
    let text = r#"{"loss": 0.1, "tiny": 1e-7, "third": 0.3333333333333333, "huge": 1.5e300, "count": 7, "neg": -0.25}"#;
    result(&dir, "c0", text);
    dir.run("exp-run", &[]).succeeds();

    let table = summary(&dir, &[]);
    let written = |value: &Value| value.to_string();
    let params = json!({"lr": 0.1, "wd": 1e-7, "k": 3, "big": 12345678901234567u64});
    let results: Value = serde_json::from_str(text).unwrap();
    for (key, value) in params.as_object().unwrap().iter().chain(results.as_object().unwrap()) {
        assert_eq!(table.cell("c0", key), written(value), "{key}: {table:?}");
    }
    assert_eq!(table.cell("c0", "lr"), "0.1");
    assert_eq!(table.cell("c0", "loss"), "0.1");
    assert_eq!(table.cell("c0", "big"), "12345678901234567");
    let csv = dir.run("exp-summary", &[]).stdout.clone();
    assert!(!csv.contains("0.1000000"), "{csv}");
}

#[test]
fn a_config_not_done_fails_the_summary_unless_ignore_missing() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0}), json!({"i": 1})]);
    result(&dir, "c0", r#"{"loss": 0.5}"#);
    std::fs::write(dir.path().join("fail-c1"), "").unwrap();
    dir.run("exp-run", &["-j2"]).fails_with(1);

    let out = dir.run("exp-summary", &[]);
    out.fails_with(1)
        .no_stdout()
        .stderr_has("c1") // names the failed config
        .stderr_lacks("c0"); // and only it

    // A todo config counts as not done too.
    dir.run_stdin("exp-add", &[], "{\"i\": 2}\n").succeeds();
    let out = dir.run("exp-summary", &[]);
    out.fails_with(1).no_stdout().stderr_has("c1").stderr_has("c2");

    let table = summary(&dir, &["--ignore-missing"]);
    assert_eq!(table.header, ["name", "i", "loss", "status"]);
    assert_eq!(table.rows, [["c0", "0", "0.5", "done"], ["c1", "1", "", "failed"], ["c2", "2", "", "todo"]]);
    assert!(!dir.exp().join("results_summary.csv").exists(), "never written while a config failed");
}

#[test]
fn results_come_from_exp_result_the_last_json_line_or_a_result_yaml() {
    let dir = Dir::new();
    let script = r#"case "$EXP_PARAM_HOW" in
  file) echo '{{"score": 1}}' > "$EXP_RESULT"; echo '{{"score": 100}}' ;;
  stdout) echo '{{"score": 0}}'; echo 'not json'; echo '{{"score": 2, "via": "stdout"}}'; echo '[3]'; echo done ;;
  yaml) printf 'score: 3\nvia: yaml\nnested:\n  k: 4\n' > "$EXP_CONFIG_DIR/result.yaml" ;;
  none) echo 'nothing to see' ;;
esac"#;
    dir.init(&["--naming", "{how}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "how=file,stdout,yaml,none"]).succeeds();
    dir.run("exp-run", &["-j2"]).succeeds();

    let table = summary(&dir, &[]);
    assert_eq!(table.header, ["name", "how", "score", "via", "nested.k"]);
    assert_eq!(table.rows[0], ["file", "file", "1", "", ""]);
    assert_eq!(table.rows[1], ["stdout", "stdout", "2", "stdout", ""]);
    assert_eq!(table.rows[2], ["yaml", "yaml", "3", "yaml", "4"]);
    assert_eq!(table.rows[3], ["none", "none", "", "", ""]);
}

#[test]
fn json_lines_hold_params_and_result_unflattened() {
    let dir = Dir::new();
    experiment(&dir, &["opt=adam"], &[json!({"i": 0, "model": {"depth": 2}}), json!({"i": 1, "lr": 0.1})]);
    result(&dir, "c0", r#"{"loss": 0.5, "extra": {"x": [1, 2]}}"#);
    dir.run("exp-run", &[]).succeeds();

    let lines = dir.run("exp-summary", &["--json"]).succeeds().json_lines();
    assert_eq!(
        lines,
        [
            json!({"name": "c0", "params": {"i": 0, "model": {"depth": 2}, "opt": "adam"},
                   "result": {"loss": 0.5, "extra": {"x": [1, 2]}}}),
            json!({"name": "c1", "params": {"i": 1, "lr": 0.1, "opt": "adam"}, "result": null}),
        ]
    );
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["name", "params", "result"]);
}

#[test]
fn save_writes_results_summary_csv_and_output_writes_the_file() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0}), json!({"i": 1})]);
    result(&dir, "c0", r#"{"loss": 0.5}"#);
    result(&dir, "c1", r#"{"loss": 0.25}"#);
    dir.run("exp-run", &[]).succeeds();
    let expected = dir.run("exp-summary", &[]).succeeds().stdout.clone();
    assert!(expected.contains("loss"), "{expected}");

    let saved = dir.exp().join("results_summary.csv");
    std::fs::remove_file(&saved).expect("exp-run wrote one");
    let out = dir.run("exp-summary", &["--save"]);
    out.succeeds().no_stdout(); // nothing on stdout
    assert_eq!(std::fs::read_to_string(&saved).unwrap(), expected);

    let file = dir.path().join("sub/out.csv");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let out = dir.run("exp-summary", &["-o", file.to_str().unwrap()]);
    out.succeeds().no_stdout();
    assert_eq!(dir.read("sub/out.csv"), expected);
    let out = dir.run("exp-summary", &["-o", "sub/relative.csv"]);
    out.succeeds();
    assert_eq!(dir.read("sub/relative.csv"), expected);
}

#[test]
fn output_to_a_bare_file_name_writes_it_in_the_working_directory() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0})]);
    result(&dir, "c0", r#"{"loss": 0.5}"#);
    dir.run("exp-run", &[]).succeeds();
    let expected = dir.run("exp-summary", &[]).succeeds().stdout.clone();
    let out = dir.run("exp-summary", &["-o", "out.csv"]);
    out.succeeds().no_stdout();
    assert_eq!(dir.read("out.csv"), expected);
}

#[test]
fn exp_run_writes_the_summary_once_every_config_is_done_with_the_same_columns() {
    let dir = Dir::new();
    experiment(&dir, &["seed=0"], &[json!({"i": 0, "lr": 0.1}), json!({"i": 1, "lr": 0.2})]);
    result(&dir, "c0", r#"{"loss": 0.5, "lr": 1}"#);
    result(&dir, "c1", r#"{"loss": 0.25, "extra": {"x": 1}}"#);
    let saved = dir.exp().join("results_summary.csv");
    dir.run("exp-run", &["--limit", "1"]).succeeds();
    assert!(!saved.exists(), "not while a config is todo");
    dir.run("exp-run", &[]).succeeds();
    let written = Table::parse(&std::fs::read_to_string(&saved).expect("written when all are done"));
    written.assert_well_formed();
    let asked = summary(&dir, &[]);
    assert_eq!(written.header, ["name", "i", "lr", "seed", "loss", "result.lr", "extra.x"]);
    assert_eq!(written.header, asked.header);
    assert_eq!(written.rows, asked.rows);
}

#[test]
fn timing_adds_a_duration_in_seconds() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0}), json!({"i": 1})]);
    result(&dir, "c0", r#"{"loss": 0.5}"#);
    dir.run("exp-run", &[]).succeeds();
    let table = summary(&dir, &["--timing"]);
    assert_eq!(table.header, ["name", "i", "loss", "duration"]);
    for name in ["c0", "c1"] {
        let cell = table.cell(name, "duration");
        let seconds: f64 =
            cell.parse().unwrap_or_else(|_| panic!("{name}: duration {cell:?} is not a number"));
        assert!((0.0..600.0).contains(&seconds), "{name}: {seconds}");
    }
    let table = summary(&dir, &["--timing", "--ignore-missing"]);
    assert_eq!(table.header, ["name", "i", "loss", "status", "duration"]);
}

#[test]
fn status_results_carry_each_result_and_select_with_jq() {
    let dir = Dir::new();
    let rows: Vec<Value> = (0..5).map(|i| json!({"i": i})).collect();
    experiment(&dir, &[], &rows);
    for (name, loss) in [("c0", "0.1"), ("c1", "0.5"), ("c2", "0.29"), ("c3", "0.3"), ("c4", "2")] {
        result(&dir, name, &format!(r#"{{"loss": {loss}, "name": "{name}"}}"#));
    }
    dir.run("exp-run", &["-j2"]).succeeds();

    let lines = dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines();
    assert_eq!(lines.len(), 5);
    for line in &lines {
        let name = line["name"].as_str().unwrap();
        assert_eq!(line["result"]["name"], name, "{line}");
        assert!(line["result"]["loss"].is_number(), "{line}");
    }
    let plain = dir.run("exp-status", &["--json"]).succeeds().json_lines();
    assert!(plain.iter().all(|line| line.get("result").is_none()), "only with --results: {plain:?}");

    if jq().arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
        eprintln!("note: jq is not installed; skipping the jq half of status_results_carry_each_result");
    } else {
        let filter = ["-c", "select(.result.loss < 0.3) | .name"];
        let out = through_jq(&dir, "exp-status", &["--json", "--results"], &filter);
        out.succeeds();
        assert_eq!(out.stdout, "\"c0\"\n\"c2\"\n");
    }

    // A config without a result (todo here) has `result: null`.
    dir.run_stdin("exp-add", &[], "{\"i\": 5}\n").succeeds();
    let lines = dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines();
    assert_eq!(lines[5]["name"], "c5");
    assert!(lines[5].get("result").is_some_and(Value::is_null), "{}", lines[5]);
}

#[test]
fn after_a_clean_the_summary_left_by_exp_run_matches_exp_summary() {
    let dir = Dir::new();
    experiment(&dir, &[], &[json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]);
    for name in ["c0", "c1", "c2"] {
        result(&dir, name, r#"{"loss": 0.5}"#);
    }
    dir.run("exp-run", &[]).succeeds();
    dir.run_stdin("exp-clean", &["--names", "-"], "c1\n").succeeds();
    dir.run("exp-run", &[]).succeeds();
    let expected = dir.run("exp-summary", &[]).succeeds().stdout.clone();
    assert_eq!(Table::parse(&expected).names(), ["c0", "c2"]);
    assert_eq!(dir.read("exp/results_summary.csv"), expected, "every config is done: the summary is current");
}

/// A big experiment whose configs print `{"r": I}`, 30 of them run (their
/// changes wait in the journal, not in `experiment.yaml`), then one added
/// (in the journal only); its names.
fn big_and_partly_run(dir: &Dir) -> Vec<String> {
    let mut names = big_experiment_of(dir, &["echo", "{{\"r\": {i}}}"]);
    dir.run("exp-run", &["--limit", "30", "-j", "2", "--progress", "never", "-q"]).succeeds();
    let added = dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":-1,\"pad\":\"z\",\"new\":true}\n");
    names.push(added.succeeds().json_lines()[0]["name"].as_str().unwrap().to_string());
    names
}

#[test]
fn a_big_experiment_is_summarised_in_order_with_its_journal_applied() {
    let dir = Dir::new();
    let names = big_and_partly_run(&dir);
    let csv = dir.run("exp-summary", &["--ignore-missing"]).succeeds().stdout.clone();
    let table = Table::parse(&csv);
    table.assert_well_formed();
    assert_eq!(table.header, ["name", "i", "pad", "new", "r", "status"]);
    assert_eq!(table.names(), names, "every config once, in order, the one added last");
    // Each row says what exp-status says of its config.
    let configs = dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines();
    assert_eq!(configs.len(), table.rows.len());
    let text = |value: &Value| match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    for (row, config) in table.rows.iter().zip(&configs) {
        let params = &config["params"];
        let expected = [
            &config["name"],
            &params["i"],
            &params["pad"],
            &params["new"],
            &config["result"]["r"],
            &config["status"],
        ]
        .map(text);
        assert_eq!(row, &expected);
    }
    assert_eq!(table.rows.iter().filter(|row| row[5] == "done").count(), 30);
    assert_eq!(table.cell("c29", "r"), "29");

    // The same table to a file; without --ignore-missing, refused.
    dir.run("exp-summary", &["--ignore-missing", "-o", "all.csv"]).succeeds().no_stdout();
    assert_eq!(dir.read("all.csv"), csv);
    dir.run("exp-summary", &[]).fails_with(1).no_stdout().stderr_has("7971 config(s) not done");

    // A config line rewritten by hand as YAML of another shape: the state
    // is read whole, to the same table.
    let path = dir.state_path();
    let state = dir.read("exp/experiment.yaml");
    assert!(!state.contains(r#""status":"done""#), "the runs wait in the journal");
    let edited = state.replacen("\n  \"c4000\": {", "\n  \"c4000\":\n    {", 1);
    assert_ne!(edited, state);
    std::fs::write(&path, &edited).unwrap();
    assert_eq!(dir.run("exp-summary", &["--ignore-missing"]).succeeds().stdout, csv);
    assert_eq!(dir.read("exp/experiment.yaml"), edited, "never rewritten");
}

#[test]
fn a_cut_or_damaged_big_state_file_is_exit_3_and_nothing_is_written() {
    let dir = Dir::new();
    big_and_partly_run(&dir);
    let path = dir.state_path();
    let whole = dir.read("exp/experiment.yaml");
    let line_of = |name: &str| {
        let start = whole.find(&format!("\n  \"{name}\": ")).unwrap() + 1;
        start..start + whole[start..].find('\n').unwrap() + 1
    };
    let half = whole.len() / 2;
    let lost = line_of("c4000");
    let damaged = line_of("c7990");
    let cases = [
        ("cut mid-line", whole[..half].to_string()),
        ("cut after a line", whole[..=whole[..half].rfind('\n').unwrap()].to_string()),
        ("a lost line", format!("{}{}", &whole[..lost.start], &whole[lost.end..])),
        (
            "a damaged line near the end",
            whole.replacen(&whole[damaged.clone()], "  \"c7990\": {\"status\" ]\n", 1),
        ),
    ];
    for (case, text) in cases {
        std::fs::write(&path, &text).unwrap();
        for args in [
            &["--ignore-missing"][..],
            &["--ignore-missing", "-o", "out.csv"],
            &["--ignore-missing", "--save"],
            &[],
        ] {
            let out = dir.run("exp-summary", args);
            out.fails_with(3).no_stdout().stderr_has("experiment.yaml");
            assert!(!out.stderr.contains("panicked"), "{case}, {args:?}: {out:?}");
        }
        assert!(!dir.path().join("out.csv").exists(), "{case}");
        assert!(!dir.exp().join("results_summary.csv").exists(), "{case}");
        assert_eq!(dir.read("exp/experiment.yaml"), text, "{case}: never rewritten");
    }
}
