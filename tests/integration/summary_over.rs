//! `exp-summary --over K [--stats ...]` (done configs grouped by every
//! param but K, each numeric result field's stats, checked against values
//! computed here), `exp-summary DIR1 DIR2 ...` (the `experiment` column),
//! and the reserved columns that push a param to `param.NAME`.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::Stdio;

/// An experiment at `TMP/folder` whose configs are `rows` (params, the
/// result its command prints, whether it fails), named by `naming`, run to
/// the end. Each command prints `TMP/results/NAME.json` when there is one,
/// then fails when `TMP/fail-NAME` exists. Names must differ across the
/// experiments of one test.
fn sweep(dir: &Dir, folder: &str, naming: &str, defaults: &[&str], rows: &[(Value, Value, bool)]) {
    std::fs::create_dir_all(dir.path().join("results")).unwrap();
    let script =
        r#"f="results/$EXP_NAME.json"; if [ -e "$f" ]; then cat "$f"; fi; test ! -e "fail-$EXP_NAME""#;
    let mut init = vec!["--naming", naming, "--shell", script];
    for default in defaults {
        init.extend(["--default", default]);
    }
    tool(dir, "exp-init", folder, &init).succeeds();
    let lines: String = rows.iter().map(|(params, _, _)| format!("{params}\n")).collect();
    let mut add = dir.cmd("exp-add");
    add.args([folder, "-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = add.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), lines.as_bytes()).unwrap();
    let added = Out::of(child.wait_with_output().unwrap());
    let added = added.succeeds().json_lines();
    assert_eq!(added.len(), rows.len(), "{added:?}");
    let mut failing = false;
    for (line, (_, result, fails)) in added.iter().zip(rows) {
        let name = line["name"].as_str().unwrap();
        if !result.is_null() {
            std::fs::write(dir.path().join(format!("results/{name}.json")), format!("{result}\n")).unwrap();
        }
        if *fails {
            touch(dir, &format!("fail-{name}"));
            failing = true;
        }
    }
    let out = tool(dir, "exp-run", folder, &["-j2", "--progress", "never"]);
    if failing {
        out.fails_with(1);
    } else {
        out.succeeds();
    }
}

/// `TOOL FOLDER ARGS...` in the temp dir.
fn tool(dir: &Dir, tool: &str, folder: &str, args: &[&str]) -> Out {
    Out::of(dir.cmd(tool).arg(folder).args(args).stdin(Stdio::null()).output().expect("spawn"))
}

/// `exp-summary ARGS...` (the folders among them), its CSV.
fn summary(dir: &Dir, args: &[&str]) -> Table {
    let out = Out::of(dir.cmd("exp-summary").args(args).stdin(Stdio::null()).output().expect("spawn"));
    out.succeeds();
    let table = Table::parse(&out.stdout);
    table.assert_well_formed();
    table
}

fn summary_json(dir: &Dir, args: &[&str]) -> Vec<Value> {
    Out::of(dir.cmd("exp-summary").args(args).stdin(Stdio::null()).output().unwrap()).succeeds().json_lines()
}

// The stats as a textbook has them, computed here in other ways than the
// tool's where there are other ways.

fn mean(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0, |sum, x| sum + x) / xs.len() as f64
}

/// The sample standard deviation from the sums of x and x².
fn std(xs: &[f64]) -> f64 {
    let n = xs.len() as f64;
    let (sum, squares) = xs.iter().fold((0.0, 0.0), |(s, q), x| (s + x, q + x * x));
    ((squares - sum * sum / n) / (n - 1.0)).sqrt()
}

fn median(xs: &[f64]) -> f64 {
    let mut sorted = xs.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sem(xs: &[f64]) -> f64 {
    std(xs) / (xs.len() as f64).sqrt()
}

/// `cell` is `expected` (to 1e-12, relatively), written in its shortest
/// round-trip form: the fewest digits that read back as the number, and no
/// `.0` on an integral one.
#[track_caller]
fn assert_number(cell: &str, expected: f64, what: &str) {
    let value: f64 = cell.parse().unwrap_or_else(|_| panic!("{what}: {cell:?} is not a number"));
    let close = (value - expected).abs() <= 1e-12 * expected.abs().max(1e-300);
    assert!(close, "{what}: {cell} but {expected} was computed here");
    let shortest = format!("{value:?}");
    assert_eq!(cell, shortest.strip_suffix(".0").unwrap_or(&shortest), "{what}: not the shortest form");
}

/// Losses of two learning rates over five seeds, and a nested accuracy.
const LOSSES: [[f64; 5]; 2] = [[0.93, 0.71, 0.88, 0.64, 0.79], [0.55, 0.61, 0.48, 0.52, 0.59]];
const TOP1: [[f64; 5]; 2] = [[70.0, 72.0, 71.0, 69.0, 74.0], [80.0, 81.5, 79.0, 83.0, 80.0]];

fn seeds_sweep(dir: &Dir) {
    let mut rows = Vec::new();
    for (l, lr) in [0.1, 0.2].into_iter().enumerate() {
        for seed in 0..5 {
            let result = json!({"loss": LOSSES[l][seed], "acc": {"top1": TOP1[l][seed]}, "run": "ok"});
            rows.push((json!({"lr": lr, "seed": seed}), result, false));
        }
    }
    sweep(dir, "exp", "lr{lr}-s{seed}", &["opt=adam"], &rows);
}

#[test]
fn over_seed_gives_each_group_its_mean_and_sample_std_as_computed_here() {
    let dir = Dir::new();
    seeds_sweep(&dir);
    let table = summary(&dir, &["exp", "--over", "seed"]);
    assert_eq!(
        table.header,
        ["lr", "opt", "n", "loss.mean", "loss.std", "acc.top1.mean", "acc.top1.std"],
        "the group's params (defaults merged, not seed), n, then mean and std of each numeric field"
    );
    assert_eq!(table.rows.len(), 2, "{table:?}");
    for (row, lr) in ["0.1", "0.2"].into_iter().enumerate() {
        assert_eq!([table.at(row, "lr"), table.at(row, "opt"), table.at(row, "n")], [lr, "adam", "5"]);
        assert_number(table.at(row, "loss.mean"), mean(&LOSSES[row]), "loss.mean");
        assert_number(table.at(row, "loss.std"), std(&LOSSES[row]), "loss.std");
        assert_number(table.at(row, "acc.top1.mean"), mean(&TOP1[row]), "acc.top1.mean");
        assert_number(table.at(row, "acc.top1.std"), std(&TOP1[row]), "acc.top1.std");
    }
    assert_eq!(table.at(0, "acc.top1.mean"), "71.2");
    assert_eq!(table.at(1, "acc.top1.mean"), "80.7");

    // Over both params: one group, all ten configs.
    let table = summary(&dir, &["exp", "--over", "seed,lr"]);
    assert_eq!(table.header[..2], ["opt", "n"]);
    assert_eq!(table.at(0, "n"), "10");
    let all: Vec<f64> = LOSSES.concat();
    assert_number(table.at(0, "loss.mean"), mean(&all), "loss.mean over both");
    assert_eq!(
        summary(&dir, &["exp", "--over", "seed", "--over", "lr"]).rows,
        table.rows,
        "repeated = listed"
    );
}

#[test]
fn stats_come_as_asked_in_the_order_asked_each_as_computed_here() {
    let dir = Dir::new();
    // lr 0.1: four seeds (an even count: the median is the mean of the two
    // middle values); lr 0.2: three, one of which has no loss.
    let losses: [&[f64]; 2] = [&[0.9, 0.3, 0.5, 0.8], &[0.25, 0.5]];
    let mut rows = Vec::new();
    for (seed, loss) in losses[0].iter().enumerate() {
        rows.push((json!({"lr": 0.1, "seed": seed}), json!({"loss": loss}), false));
    }
    for (seed, loss) in losses[1].iter().enumerate() {
        rows.push((json!({"lr": 0.2, "seed": seed}), json!({"loss": loss}), false));
    }
    rows.push((json!({"lr": 0.2, "seed": 2}), json!({"other": 1}), false));
    sweep(&dir, "exp", "lr{lr}-s{seed}", &[], &rows);

    let order = ["median", "sem", "max", "n", "min", "mean", "std"];
    let table = summary(&dir, &["exp", "--over", "seed", "--stats", &order.join(",")]);
    let mut expected = vec!["lr".to_string(), "n".to_string()];
    for field in ["loss", "other"] {
        expected.extend(order.iter().map(|stat| format!("{field}.{stat}")));
    }
    assert_eq!(table.header, expected);
    for (row, xs) in losses.iter().enumerate() {
        assert_number(table.at(row, "loss.median"), median(xs), "median");
        assert_number(table.at(row, "loss.sem"), sem(xs), "sem");
        assert_number(table.at(row, "loss.mean"), mean(xs), "mean");
        assert_number(table.at(row, "loss.std"), std(xs), "std");
        let max = xs.iter().cloned().fold(f64::MIN, f64::max);
        let min = xs.iter().cloned().fold(f64::MAX, f64::min);
        assert_eq!(table.at(row, "loss.max"), max.to_string());
        assert_eq!(table.at(row, "loss.min"), min.to_string());
        assert_eq!(table.at(row, "loss.n"), xs.len().to_string(), "configs that have the field");
    }
    assert_eq!(table.at(0, "loss.median"), "0.65", "(0.5 + 0.8) / 2");
    assert_eq!([table.at(1, "n"), table.at(1, "loss.n"), table.at(1, "other.n")], ["3", "2", "1"]);
    assert_eq!([table.at(0, "other.n"), table.at(0, "other.mean"), table.at(0, "other.min")], ["0", "", ""]);
    assert_eq!([table.at(1, "other.mean"), table.at(1, "other.median"), table.at(1, "other.max")], ["1"; 3]);

    // Each stat alone.
    for stat in order {
        let table = summary(&dir, &["exp", "--over", "seed", "--stats", stat]);
        assert_eq!(table.header, ["lr", "n", &format!("loss.{stat}"), &format!("other.{stat}")]);
    }
}

#[test]
fn with_fewer_than_two_values_std_and_sem_are_empty() {
    let dir = Dir::new();
    let rows = [
        (json!({"lr": 0.1, "seed": 0}), json!({"loss": 0.5}), false),
        (json!({"lr": 0.2, "seed": 0}), json!({"loss": 0.25, "acc": 0.75}), false),
        (json!({"lr": 0.2, "seed": 1}), json!({"loss": 0.5}), false),
    ];
    sweep(&dir, "exp", "lr{lr}-s{seed}", &[], &rows);
    let table = summary(&dir, &["exp", "--over", "seed", "--stats", "mean,std,sem,n"]);
    assert_eq!(table.rows[0], ["0.1", "1", "0.5", "", "", "1", "", "", "", "0"], "one value: no spread");
    assert_eq!(table.rows[1][..6], ["0.2", "2", "0.375", "0.1767766952966369", "0.125", "2"]);
    assert_eq!(table.rows[1][6..], ["0.75", "", "", "1"], "acc: one value of the group's two");
}

#[test]
fn configs_not_done_are_left_out_and_never_fail_an_over_summary() {
    let dir = Dir::new();
    let rows = [
        (json!({"lr": 0.1, "seed": 0}), json!({"loss": 0.5}), false),
        (json!({"lr": 0.1, "seed": 1}), json!({"loss": 100}), true), // failed, with a result
        (json!({"lr": 0.1, "seed": 2}), json!({"loss": 0.25}), false),
        (json!({"lr": 0.3, "seed": 0}), json!({"loss": 7}), true), // a group with nothing done
    ];
    sweep(&dir, "exp", "lr{lr}-s{seed}", &[], &rows);
    let added =
        dir.run_stdin("exp-add", &["-f", "-"], "{\"lr\": 0.1, \"seed\": 3}\n{\"lr\": 0.5, \"seed\": 0}\n");
    added.succeeds();
    dir.run("exp-summary", &[]).fails_with(1); // the plain summary still refuses

    let out = dir.run("exp-summary", &["--over", "seed"]);
    out.succeeds();
    let table = Table::parse(&out.stdout);
    assert_eq!(table.header, ["lr", "n", "loss.mean", "loss.std"]);
    assert_eq!(
        table.rows,
        [["0.1", "2", "0.375", "0.1767766952966369"]],
        "only done configs, only their groups"
    );
    let lines = dir.run("exp-summary", &["--over", "seed", "--json"]).succeeds().json_lines();
    assert_eq!(lines.len(), 1);
    dir.run("exp-summary", &["--over", "seed", "--ignore-missing"]).succeeds();
}

#[test]
fn non_numeric_fields_are_left_out_and_a_field_counts_where_it_is_a_number() {
    let dir = Dir::new();
    let rows = [
        (
            json!({"seed": 0}),
            json!({"loss": 1, "tag": "a", "ok": true, "none": null, "curve": [1, 2], "mixed": 2}),
            false,
        ),
        (
            json!({"seed": 1}),
            json!({"loss": 3, "tag": "b", "ok": false, "text": "0.5", "mixed": "n/a"}),
            false,
        ),
        (json!({"seed": 2}), json!({"loss": 2, "mixed": 4, "deep": {"x": 1, "y": "z"}}), false),
    ];
    sweep(&dir, "exp", "s{seed}", &[], &rows);
    let table = summary(&dir, &["exp", "--over", "seed", "--stats", "mean,n"]);
    assert_eq!(
        table.header,
        ["n", "loss.mean", "loss.n", "mixed.mean", "mixed.n", "deep.x.mean", "deep.x.n"]
    );
    assert_eq!(table.rows, [["3", "2", "3", "3", "2", "1", "1"]]);
}

#[test]
fn json_lines_carry_the_group_params_n_and_each_fields_stats() {
    let dir = Dir::new();
    let rows = [
        (json!({"model": {"depth": 2, "seed": 0}, "lr": 0.1}), json!({"loss": 0.5, "acc": 1}), false),
        (json!({"model": {"depth": 2, "seed": 1}, "lr": 0.1}), json!({"loss": 0.25}), false),
        (json!({"model": {"depth": 3, "seed": 0}, "lr": 0.1}), json!({"loss": 2}), false),
    ];
    sweep(&dir, "exp", "d{model.depth}-s{model.seed}", &["opt=sgd"], &rows);
    let lines = summary_json(&dir, &["exp", "--over", "model.seed", "--json"]);
    assert_eq!(
        lines,
        [
            json!({"params": {"model": {"depth": 2}, "lr": 0.1, "opt": "sgd"}, "n": 2,
                   "stats": {"loss": {"mean": 0.375, "std": 0.1767766952966369}, "acc": {"mean": 1, "std": null}}}),
            json!({"params": {"model": {"depth": 3}, "lr": 0.1, "opt": "sgd"}, "n": 1,
                   "stats": {"loss": {"mean": 2, "std": null}, "acc": {"mean": null, "std": null}}}),
        ]
    );
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["params", "n", "stats"]);
    // A number's JSON text is its CSV cell.
    let out = dir.run("exp-summary", &["--over", "model.seed", "--json", "--stats", "median,n"]);
    out.succeeds().stdout_has(r#""stats":{"loss":{"median":0.375,"n":2},"acc":{"median":1,"n":1}}"#);
    let table = summary(&dir, &["exp", "--over", "model.seed"]);
    assert_eq!(
        table.header,
        ["model.depth", "lr", "opt", "n", "loss.mean", "loss.std", "acc.mean", "acc.std"]
    );
    // `--over model` takes out the whole object.
    let table = summary(&dir, &["exp", "--over", "model"]);
    assert_eq!(table.rows[0][..3], ["0.1", "sgd", "3"]);
    assert_number(table.at(0, "loss.mean"), mean(&[0.5, 0.25, 2.0]), "loss.mean");
    assert_number(table.at(0, "loss.std"), std(&[0.5, 0.25, 2.0]), "loss.std");
    assert_eq!(table.rows[0][5..], ["1", ""]);
}

#[test]
fn several_experiments_get_an_experiment_column_and_empty_cells_for_params_they_lack() {
    let dir = Dir::new();
    let first = [
        (json!({"lr": 0.1, "seed": 0}), json!({"loss": 0.5}), false),
        (json!({"lr": 0.1, "seed": 1}), json!({"loss": 0.25}), false),
    ];
    sweep(&dir, "exp", "a{seed}", &[], &first);
    let second = [(json!({"seed": 0, "depth": 4}), json!({"loss": 1, "acc": 0.5}), false)];
    sweep(&dir, "runs/other", "b{seed}", &[], &second);
    let one = summary(&dir, &["exp"]);
    assert_eq!(one.header, ["name", "lr", "seed", "loss"], "one experiment: no experiment column");

    let table = summary(&dir, &["exp", "runs/other"]);
    assert_eq!(table.header, ["experiment", "name", "lr", "seed", "depth", "loss", "acc"]);
    assert_eq!(
        table.rows,
        [
            ["exp", "a0", "0.1", "0", "", "0.5", ""],
            ["exp", "a1", "0.1", "1", "", "0.25", ""],
            ["runs/other", "b0", "", "0", "4", "1", "0.5"],
        ]
    );
    // The DIR exactly as given, in the order given.
    let absolute = dir.path().join("runs/other").display().to_string();
    let table = summary(&dir, &[&absolute, "./exp"]);
    let labels: Vec<&str> = table.rows.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(labels, [absolute.as_str(), "./exp", "./exp"]);

    let lines = summary_json(&dir, &["exp", "runs/other", "--json"]);
    assert_eq!(
        lines[2],
        json!({"experiment": "runs/other", "name": "b0", "params": {"seed": 0, "depth": 4}, "result": {"loss": 1, "acc": 0.5}})
    );
    let keys: Vec<&String> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["experiment", "name", "params", "result"]);

    // --over groups within each experiment, never across.
    let table = summary(&dir, &["exp", "runs/other", "--over", "seed"]);
    assert_eq!(
        table.header,
        ["experiment", "lr", "depth", "n", "loss.mean", "loss.std", "acc.mean", "acc.std"]
    );
    assert_eq!(
        table.rows,
        [
            ["exp", "0.1", "", "2", "0.375", "0.1767766952966369", "", ""],
            ["runs/other", "", "4", "1", "1", "", "0.5", ""]
        ]
    );
    let lines = summary_json(&dir, &["exp", "runs/other", "--over", "seed", "--json"]);
    assert_eq!(lines[1]["experiment"], "runs/other");
    assert_eq!(lines[1]["params"], json!({"depth": 4}));

    // -o writes the summary of several.
    let out = Out::of(dir.cmd("exp-summary").args(["exp", "runs/other", "-o", "all.csv"]).output().unwrap());
    out.succeeds().no_stdout();
    assert_eq!(Table::parse(&dir.read("all.csv")).rows.len(), 3);
}

#[test]
fn save_with_several_experiments_is_bad_usage_and_writes_nothing() {
    let dir = Dir::new();
    sweep(&dir, "exp", "a{seed}", &[], &[(json!({"seed": 0}), json!({"loss": 0.5}), false)]);
    sweep(&dir, "other", "b{seed}", &[], &[(json!({"seed": 0}), json!({"loss": 1}), false)]);
    for folder in ["exp", "other"] {
        std::fs::remove_file(dir.path().join(folder).join("results_summary.csv")).expect("exp-run wrote one");
    }
    let out = Out::of(dir.cmd("exp-summary").args(["exp", "other", "--save"]).output().unwrap());
    out.fails_with(2).no_stdout().stderr_has("--save").stderr_has("-o FILE");
    for folder in ["exp", "other"] {
        assert!(!dir.path().join(folder).join("results_summary.csv").exists(), "{folder}: nothing written");
    }
    tool(&dir, "exp-summary", "exp", &["--save"]).succeeds();
    assert!(dir.exp().join("results_summary.csv").exists(), "with one DIR it writes");
}

#[test]
fn a_config_not_done_in_any_experiment_fails_the_summary_naming_its_dir() {
    let dir = Dir::new();
    sweep(&dir, "exp", "a{seed}", &[], &[(json!({"seed": 0}), json!({"loss": 0.5}), false)]);
    sweep(&dir, "other", "b{seed}", &[], &[(json!({"seed": 0}), json!({"loss": 1}), true)]);
    let out = Out::of(dir.cmd("exp-summary").args(["exp", "other"]).stdin(Stdio::null()).output().unwrap());
    out.fails_with(1).no_stdout().stderr_has("other: 1 config(s) not done: b0 (failed)").stderr_lacks("exp:");
    out.stderr_has("--ignore-missing");
    let table = summary(&dir, &["exp", "other", "--ignore-missing"]);
    assert_eq!(table.header, ["experiment", "name", "seed", "loss", "status"]);
    assert_eq!(table.rows[1], ["other", "b0", "0", "1", "failed"]);
}

#[test]
fn a_param_named_as_a_reserved_column_is_param_name() {
    let dir = Dir::new();
    let params = json!({"seed": 0, "n": 3, "experiment": "e1", "attempt": 2, "host": "h", "git": {"commit": "c", "dirty": false}});
    let mut second = params.clone();
    second["seed"] = json!(1);
    let rows =
        [(params, json!({"loss": 0.5, "n": 10}), false), (second, json!({"loss": 0.25, "n": 20}), false)];
    sweep(&dir, "exp", "s{seed}", &[], &rows);
    let reserved =
        ["param.n", "param.experiment", "param.attempt", "param.host", "param.git.commit", "param.git.dirty"];
    let table = summary(&dir, &["exp"]);
    let mut expected = vec!["name", "seed"];
    expected.extend(reserved);
    expected.extend(["loss", "result.n"]);
    assert_eq!(table.header, expected, "always, whatever the flags");
    assert_eq!(table.cell("s0", "param.n"), "3");
    assert_eq!(table.cell("s0", "result.n"), "10");

    let table = summary(&dir, &["exp", "--over", "seed"]);
    let mut expected = reserved.to_vec();
    expected.extend(["n", "loss.mean", "loss.std", "n.mean", "n.std"]);
    assert_eq!(table.header, expected);
    assert_eq!(
        table.rows[0][..7],
        ["3", "e1", "2", "h", "c", "false", "2"],
        "param.n is 3; n, the group's size, 2"
    );
    assert_eq!(table.at(0, "n.mean"), "15");
}

#[test]
fn bad_over_and_stats_are_bad_usage_naming_what_is_wrong() {
    let dir = Dir::new();
    seeds_sweep(&dir);
    let output = dir.path().join("out.csv");
    let o = output.to_str().unwrap();
    let out = dir.run("exp-summary", &["--over", "sead", "-o", o]);
    out.fails_with(2).no_stdout().stderr_has("--over sead").stderr_has("no config has");
    assert!(!output.exists(), "nothing written");
    dir.run("exp-summary", &["--over", "seed,sead"]).fails_with(2).stderr_has("sead").stderr_lacks("seed:");
    let out = dir.run("exp-summary", &["--over", "seed", "--stats", "mean,variance"]);
    out.fails_with(2).no_stdout().stderr_has("variance").stderr_has("mean, std, n, min, max, median, sem");
    dir.run("exp-summary", &["--over", "seed", "--stats", "std,std"]).fails_with(2).stderr_has("twice");
    dir.run("exp-summary", &["--stats", "mean"]).fails_with(2).stderr_has("--over");
    dir.run("exp-summary", &["--over", "seed", "--save"]).fails_with(2).stderr_has("--save");
    dir.run("exp-summary", &["--over", "seed", "--timing"]).fails_with(2).stderr_has("--timing");
    dir.run("exp-summary", &["--over", "seed", "-o", o]).succeeds().no_stdout();
    assert_eq!(Table::parse(&std::fs::read_to_string(&output).unwrap()).rows.len(), 2);
}
