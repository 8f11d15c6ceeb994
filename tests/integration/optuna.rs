//! `examples/optuna_search.py` run for real: a TPE study driven through
//! `exp-add -f -`, `exp-run --follow` and `exp-status --watch`; killed
//! halfway and resumed from the experiment; failed trials; kinds Optuna
//! cannot express; asks that repeat an existing config.

use crate::harness::*;
use nix::sys::signal::{kill, Signal};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::process::Stdio;

const WHICH: &str = "optuna tests";

/// The objective: `{"loss": (x-1)^2 + (y+2)^2}` after a pause, held while
/// `TMP/hold` exists.
const QUADRATIC: &str = r#"import json, os, sys, time
x, y, pause = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
time.sleep(pause)
while os.path.exists("hold"):
    time.sleep(0.02)
with open(os.environ["EXP_RESULT"], "w") as f:
    json.dump({"loss": (x - 1) ** 2 + (y + 2) ** 2}, f)
"#;

/// The search over the quadratic, without its budget.
const SPACE: &[&str] = &[
    "--objective",
    "loss",
    "--direction",
    "minimize",
    "--dist",
    "x=uniform(-5,5)",
    "--dist",
    "y=uniform(-5,5)",
];

/// An experiment over x and y running the quadratic, pausing `pause` seconds.
fn quadratic(dir: &Dir, python: &str, pause: &str) {
    std::fs::write(dir.path().join("quadratic.py"), QUADRATIC).unwrap();
    dir.init(&["--naming", "x{x}_y{y}"], &[python, "quadratic.py", "{x}", "{y}", pause]);
}

/// `optuna_search.py exp ARGS` in the background, the built tools on its
/// PATH, its output in `TMP/LABEL.stdout` and `.stderr` (files, not pipes:
/// a runner it leaves behind holds them open).
fn search(dir: &Dir, python: &str, label: &str, args: &[&str]) -> Proc {
    let mut cmd = dir.program(python);
    cmd.arg(repo("examples/optuna_search.py")).arg("exp").args(args).env("PATH", path_with_tools());
    Proc::spawn(dir, label, cmd, Stdio::null())
}

/// What a search in the background has said on stderr so far.
fn said(search: &Proc) -> String {
    std::fs::read_to_string(&search.stderr).unwrap_or_default()
}

/// The configs of the search's `optuna_search: VERB NAME: ...` lines, each with the rest of its line.
fn lines_of<'a>(stderr: &'a str, verb: &str) -> Vec<(&'a str, &'a str)> {
    let prefix = format!("optuna_search: {verb} ");
    stderr.lines().filter_map(|line| line.strip_prefix(&prefix)?.split_once(": ")).collect()
}

/// The configs told, in order.
fn told(stderr: &str) -> Vec<&str> {
    lines_of(stderr, "told").into_iter().map(|(name, _)| name).collect()
}

/// The configs rebuilt as done trials.
fn rebuilt_done(stderr: &str) -> BTreeSet<String> {
    lines_of(stderr, "rebuilt")
        .into_iter()
        .filter(|(_, rest)| rest.starts_with("done,"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The pids of the runners the search started.
fn runner_pids(stderr: &str) -> Vec<i32> {
    stderr
        .lines()
        .filter(|line| line.starts_with("optuna_search: started exp-run"))
        .map(|line| line.rsplit_once("(pid ").unwrap().1.trim_end_matches(')').parse().unwrap())
        .collect()
}

/// The last stdout line, the best params: a JSON object.
fn best(out: &Out) -> Map<String, Value> {
    let last = out.stdout.lines().last().unwrap_or_else(|| panic!("no stdout\n{out:#?}"));
    match serde_json::from_str(last) {
        Ok(Value::Object(params)) => params,
        _ => panic!("the last stdout line is not a JSON object: {last:?}"),
    }
}

fn loss(row: &Value) -> f64 {
    row["result"]["loss"].as_f64().unwrap_or_else(|| panic!("no loss: {row}"))
}

/// Each config's `exp-status --json --results` line.
fn results(dir: &Dir) -> Vec<Value> {
    dir.run("exp-status", &["--json", "--results"]).succeeds().json_lines()
}

/// Every name once: a list with no repeats, as a set.
#[track_caller]
fn once(names: &[&str]) -> BTreeSet<String> {
    let set: BTreeSet<String> = names.iter().map(|name| name.to_string()).collect();
    assert_eq!(set.len(), names.len(), "a config told twice: {names:?}");
    set
}

/// The done config whose params are `best`, which must have the least loss.
#[track_caller]
fn assert_best_is_least(rows: &[Value], best: &Map<String, Value>) {
    let least = rows.iter().map(loss).fold(f64::INFINITY, f64::min);
    let same = |row: &&Value| ["x", "y"].iter().all(|k| row["params"][k].as_f64() == best[*k].as_f64());
    let row = rows.iter().find(same).unwrap_or_else(|| panic!("no config has the best params {best:?}"));
    assert_eq!(loss(row), least, "the best params are not those of the least loss: {row}");
}

#[test]
fn a_search_runs_its_trials_and_prints_the_best_params_last() {
    let Some(python) = optuna_python(WHICH) else { return };
    let dir = Dir::new();
    quadratic(&dir, &python, "0");
    let args = [SPACE, &["--trials", "12", "--parallel", "2", "--seed", "1"]].concat();
    let out = search(&dir, &python, "search", &args).finish();
    out.succeeds();

    let rows = results(&dir);
    assert_eq!(rows.len(), 12, "{out:#?}");
    assert!(rows.iter().all(|row| row["status"] == "done"), "{rows:#?}");
    let best = best(&out);
    assert_eq!(best.keys().collect::<Vec<_>>(), ["x", "y"]);
    assert_best_is_least(&rows, &best);
    // Each config told once; the runner stopped with the search.
    let all: BTreeSet<String> = rows.iter().map(|row| row["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(once(&told(&out.stderr)), all);
    let runners = runner_pids(&out.stderr);
    assert_eq!(runners.len(), 1, "{out:#?}");
    assert!(!alive(runners[0]), "the search left its runner running");
}

#[test]
fn a_search_killed_halfway_goes_on_from_the_experiment_and_tells_no_config_twice() {
    let Some(python) = optuna_python(WHICH) else { return };
    let dir = Dir::new();
    quadratic(&dir, &python, "0.2");
    let args = [SPACE, &["--trials", "12", "--parallel", "2", "--seed", "2"]].concat();
    let first = search(&dir, &python, "first", &args);
    wait_for("four configs done", || counts(&dir, &[])["done"].as_u64().unwrap() >= 4);
    // Hold the next two, so the kill comes with trials in flight.
    touch(&dir, "hold");
    wait_for("two configs held", || {
        let counts = counts(&dir, &[]);
        counts["running"] == 2 && counts["todo"] == 0
    });
    let runner = runner_pids(&said(&first))[0];
    let _runner = KillOnDrop::Pid(runner);
    kill(first.pid(), Signal::SIGKILL).unwrap();
    let killed = first.finish();
    assert_eq!(killed.code, None, "{killed:#?}");
    assert!(alive(runner), "the killed search's runner goes on with what it runs");
    let at_kill = by_name(&dir);
    let done_at_kill = with_status(&at_kill, "done");
    let held = with_status(&at_kill, "running");

    let second = search(&dir, &python, "second", &args);
    wait_for("the study rebuilt", || said(&second).contains("trial(s) from the experiment"));
    // The two that the leftover runner runs count as in flight: the search adds nothing while they are held.
    for _ in 0..10 {
        assert_eq!(counts(&dir, &[])["total"].as_u64(), Some(at_kill.len() as u64), "{}", said(&second));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::remove_file(dir.path().join("hold")).unwrap();
    let out = second.finish();
    out.succeeds();

    let rows = results(&dir);
    assert_eq!(rows.len(), 12, "N configs in all: {rows:#?}");
    // Rebuilt, not run again: every config ran once, the held ones by the leftover runner.
    assert!(rows.iter().all(|row| row["status"] == "done" && row["attempts"] == 1), "{rows:#?}");
    let (told_first, told_second) = (once(&told(&killed.stderr)), once(&told(&out.stderr)));
    let rebuilt = rebuilt_done(&out.stderr);
    assert_eq!(rebuilt, done_at_kill, "the configs done at the kill are rebuilt, done");
    assert!(told_first.is_subset(&rebuilt), "{told_first:?} {rebuilt:?}");
    assert!(told_second.is_disjoint(&told_first) && told_second.is_disjoint(&rebuilt), "{out:#?}");
    assert!(held.is_subset(&told_second), "the held configs are told by the second search: {out:#?}");
    let all: BTreeSet<String> = rows.iter().map(|row| row["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(&told_second | &rebuilt, all, "each config told or rebuilt");
    assert_best_is_least(&rows, &best(&out));
}

/// The objective: exit 1 for x > 3, a result without loss for x < -3,
/// else `{"loss": x^2}`.
const REGIONS: &str = r#"import json, os, sys
x = float(sys.argv[1])
if x > 3:
    sys.exit(1)
result = {"other": 1} if x < -3 else {"loss": x * x}
with open(os.environ["EXP_RESULT"], "w") as f:
    json.dump(result, f)
"#;

#[test]
fn failed_configs_and_results_without_the_objective_are_failed_trials() {
    let Some(python) = optuna_python(WHICH) else { return };
    let dir = Dir::new();
    std::fs::write(dir.path().join("regions.py"), REGIONS).unwrap();
    dir.init(&["--naming", "x{x}"], &[&python, "regions.py", "{x}"]);
    // One of each, waiting: the search takes them as its first trials.
    dir.run_stdin("exp-add", &["-f", "-"], "{\"x\": 4}\n{\"x\": -4}\n{\"x\": 0.5}\n").succeeds();
    let args = [
        "--objective",
        "loss",
        "--direction",
        "minimize",
        "--dist",
        "x=uniform(-5,5)",
        "--trials",
        "8",
        "--parallel",
        "2",
        "--seed",
        "3",
    ];
    let out = search(&dir, &python, "search", &args).finish();
    out.succeeds();

    let rows = results(&dir);
    assert_eq!(rows.len(), 8, "{rows:#?}");
    let told = lines_of(&out.stderr, "told");
    assert_eq!(told.len(), 8, "{out:#?}");
    for row in &rows {
        let name = row["name"].as_str().unwrap();
        let (_, said) =
            told.iter().find(|(told, _)| *told == name).unwrap_or_else(|| panic!("{name} untold"));
        let expected = match (row["status"].as_str().unwrap(), row["result"]["loss"].as_f64()) {
            ("failed", _) => "failed: ",
            ("done", None) => "done without",
            _ => "loss=",
        };
        assert!(said.starts_with(expected), "{name}: {said:?} for {row}");
    }
    assert!(told.iter().any(|(name, said)| *name == "x4" && said.starts_with("failed: ")), "{out:#?}");
    assert!(told.iter().any(|(name, said)| *name == "x-4" && said.starts_with("done without")), "{out:#?}");
    let best = best(&out);
    let least = rows.iter().filter_map(|row| row["result"]["loss"].as_f64()).fold(f64::INFINITY, f64::min);
    assert_eq!(best["x"].as_f64().map(|x| x * x), Some(least), "{out:#?}");

    // When every trial fails, the search says so, exits 1 and prints no params.
    let dir = Dir::new();
    dir.init(&[], &["false"]);
    let args =
        ["--objective", "loss", "--direction", "minimize", "--dist", "x=uniform(0,1)", "--trials", "3"];
    let out = search(&dir, &python, "search", &args).finish();
    out.fails_with(1).stderr_has("every trial failed").no_stdout();
    assert_eq!(counts(&dir, &[])["failed"], 3);
}

#[test]
fn a_kind_optuna_cannot_express_is_refused_and_nothing_is_added() {
    let Some(python) = optuna_python(WHICH) else { return };
    let dir = Dir::new();
    quadratic(&dir, &python, "0");
    let before = dir.state();
    let refused = |x: &str, trials: &str, says: &str| {
        let args = [
            "--objective",
            "loss",
            "--direction",
            "minimize",
            "--dist",
            x,
            "--dist",
            "y=uniform(-5,5)",
            "--trials",
            trials,
        ];
        let out = search(&dir, &python, "refused", &args).finish();
        out.fails_with(2).stderr_has(says).no_stdout();
        assert_eq!(dir.state(), before, "{says}: something changed");
    };
    refused("x=normal(0,1)", "4", "Optuna has no normal distribution");
    refused("x=choice(true,1)", "4", "cannot tell true from 1");
    refused("x=uniform(1,1)", "4", "needs A less than B"); // exp-add's own word
    refused("x=uniform(-5,5)", "0", "--trials");
    assert_eq!(counts(&dir, &[])["total"], 0);
}

/// The objective over a choice: loss 1 for a, 2 for b.
const CHOICE: &str = r#"import json, os, sys
with open(os.environ["EXP_RESULT"], "w") as f:
    json.dump({"loss": {"a": 1, "b": 2}[sys.argv[1]]}, f)
"#;

#[test]
fn an_ask_for_an_existing_config_adds_nothing_and_is_told_its_result() {
    let Some(python) = optuna_python(WHICH) else { return };
    let dir = Dir::new();
    std::fs::write(dir.path().join("choice.py"), CHOICE).unwrap();
    dir.init(&["--naming", "c{c}"], &[&python, "choice.py", "{c}"]);
    dir.run("exp-add", &["--grid", "c=a,b"]).succeeds();
    let space =
        ["--objective", "loss", "--direction", "minimize", "--dist", "c=choice(a,b)", "--parallel", "4"];
    let loss_of = |name: &str| if name == "ca" { "loss=1 " } else { "loss=2 " };

    // Both configs wait (no runner yet): the two asks beyond them can only
    // repeat one of them, and wait for its ending.
    let first = search(&dir, &python, "first", &[&space[..], &["--trials", "4", "--no-runner"]].concat());
    wait_for("two asks waiting", || said(&first).matches("(pending): waits for its ending").count() == 2);
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let out = first.finish();
    out.succeeds();
    assert_eq!(best(&out)["c"], "a");
    let again: Vec<&str> = out.stderr.lines().filter(|line| line.contains(", asked again): told ")).collect();
    assert_eq!(again.len(), 2, "{out:#?}");
    for line in again {
        let name = line.split_once(" (").unwrap().1.split_once(',').unwrap().0;
        assert!(line.contains(&format!("told {}", loss_of(name))), "{line}");
    }

    // To 6 trials: the study rebuilt holds 2, and the 4 asks can only repeat
    // ended configs: each is told that config's loss at once.
    let out =
        search(&dir, &python, "second", &[&space[..], &["--trials", "6", "--no-runner"]].concat()).finish();
    out.succeeds();
    assert_eq!(best(&out)["c"], "a");
    let repeats = lines_of(&out.stderr, "trial")
        .into_iter()
        .filter(|(_, rest)| rest.contains("already in the experiment (ended)"))
        .collect::<Vec<_>>();
    assert_eq!(repeats.len(), 4, "{out:#?}");
    for (trial, rest) in repeats {
        let name = rest.split_once(',').unwrap().0;
        assert!(rest.contains(&format!("told its result, {}", loss_of(name))), "trial {trial}: {rest}");
    }
    let rows = results(&dir);
    assert_eq!(rows.len(), 2, "nothing added: {rows:#?}");
    assert!(rows.iter().all(|row| row["attempts"] == 1), "{rows:#?}");
}
