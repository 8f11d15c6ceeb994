//! `exp-status --watch`: the configs as `--json` lists them, then one line
//! per change (added, started, ended, reset, removed); every ending exactly
//! once across folds, resets and runners; an end when its reader goes away
//! or a signal comes.

use crate::harness::*;
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// `exp-status exp --watch ARGS...` in the background.
fn watch(dir: &Dir, args: &[&str]) -> Bg {
    Bg::spawn(dir, "exp-status", &[&["--watch"], args].concat())
}

/// The whole JSON lines a watcher printed so far.
fn lines(watcher: &Bg) -> Vec<Value> {
    let out = watcher.stdout();
    let whole = &out[..out.rfind('\n').map_or(0, |end| end + 1)];
    whole
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}")))
        .collect()
}

/// Wait until the watcher has printed `n` lines or more; its lines.
fn wait_lines(watcher: &Bg, n: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    wait_for(&format!("{n} lines from the watcher"), || {
        seen = lines(watcher);
        seen.len() >= n
    });
    seen
}

/// Wait until the watcher (without --json) has printed a line with `text`.
fn wait_text(watcher: &Bg, text: &str) {
    wait_for(&format!("{text:?} from the watcher"), || watcher.stdout().contains(text));
}

/// (name, status) of each line.
fn changes(lines: &[Value]) -> Vec<(&str, &str)> {
    lines.iter().map(|line| (line["name"].as_str().unwrap(), line["status"].as_str().unwrap())).collect()
}

/// What identifies an attempt's ending: name, attempts, start_time.
fn ending(line: &Value) -> (String, u64, String) {
    (
        line["name"].as_str().unwrap().to_string(),
        line["attempts"].as_u64().unwrap(),
        line["start_time"].as_str().unwrap_or_else(|| panic!("an ending has a start: {line}")).to_string(),
    )
}

/// A file holding `names`, one a line, for `--names FILE`.
fn names_file(dir: &Dir, file: &str, names: &[&str]) -> String {
    std::fs::write(dir.path().join(file), names.iter().map(|n| format!("{n}\n")).collect::<String>())
        .unwrap();
    file.to_string()
}

#[test]
fn it_starts_with_what_json_lists_then_prints_a_line_per_add_start_end_reset_and_removal() {
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    dir.run_stdin("exp-run", &["--names", "-", "-q"], "c1\nc2\n").succeeds();
    let listed = dir.run("exp-status", &["--json"]).succeeds().stdout.clone();
    let state = dir.state();
    let watcher = watch(&dir, &["--json"]);
    wait_lines(&watcher, 3);
    assert_eq!(watcher.stdout(), listed, "first, every config as --json lists it");
    // Reading changes nothing.
    assert_eq!(dir.state(), state);

    dir.run("exp-add", &["--grid", "i=3"]).succeeds();
    wait_lines(&watcher, 4);
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n").succeeds();
    wait_lines(&watcher, 5);
    dir.run_stdin("exp-clean", &["--names", "-"], "c2\n").succeeds();
    wait_lines(&watcher, 6);
    let runner = Bg::run(&dir, &["--names", &names_file(&dir, "c0.txt", &["c0"]), "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    wait_lines(&watcher, 7);
    release_runner(&dir, runner);
    wait_lines(&watcher, 8);
    // A last change, so that every line before it has come.
    dir.run("exp-add", &["--grid", "i=4"]).succeeds();
    let seen = wait_lines(&watcher, 9);
    let after = &seen[3..];
    assert_eq!(
        changes(after),
        [
            ("c3", "todo"),
            ("c1", "todo"),
            ("c2", "removed"),
            ("c0", "running"),
            ("c0", "done"),
            ("c4", "todo")
        ],
        "{seen:#?}"
    );
    let [added, reset, removed, started, ended, _] = after else { unreachable!() };
    assert_eq!((added["params"].clone(), added["attempts"].clone()), (json!({"i": 3}), json!(0)));
    assert_eq!((reset["attempts"].clone(), reset["end_time"].clone()), (json!(1), Value::Null));
    // A removed config's line says what was known of it.
    assert_eq!((removed["params"].clone(), removed["attempts"].clone()), (json!({"i": 2}), json!(1)));
    assert!(removed["end_time"].is_string(), "{removed}");
    assert_eq!(started["attempts"], 1);
    assert_eq!(ending(ended), ("c0".to_string(), 1, started["start_time"].as_str().unwrap().to_string()));
    assert_eq!(ended["exit_code"], 0);
    watcher.signal(Signal::SIGTERM);
    watcher.finish().fails_with(143);
}

#[test]
fn without_json_it_prints_one_line_per_change_for_people() {
    let dir = Dir::new();
    c0_gated_experiment(&dir, 2);
    dir.run_stdin("exp-run", &["--names", "-", "-q"], "c1\n").succeeds();
    let watcher = watch(&dir, &[]);
    // First what exp-status prints.
    wait_text(&watcher, "1 done");
    dir.run("exp-add", &["--grid", "i=2"]).succeeds();
    wait_text(&watcher, " c2 -> todo\n");
    let runner = Bg::run(&dir, &["--names", &names_file(&dir, "c0.txt", &["c0"]), "--progress", "never"]);
    wait_text(&watcher, " c0 todo -> running\n");
    release_runner(&dir, runner);
    wait_text(&watcher, " c0 running -> done ");
    dir.run_stdin("exp-clean", &["--names", "-"], "c1\n").succeeds();
    wait_text(&watcher, " c1 done -> removed\n");
    watcher.signal(Signal::SIGINT);
    let out = watcher.finish();
    out.fails_with(130).stdout_lacks('\x1b');
    let ended = out.stdout.lines().find(|line| line.contains(" c0 running -> done ")).unwrap();
    // 19:18:02 c0 running -> done 0.3s
    let (clock, rest) = ended.split_once(' ').unwrap();
    assert!(clock.len() == 8 && clock.split(':').all(|n| n.parse::<u8>().is_ok()), "{ended}");
    assert!(rest.ends_with('s'), "its duration: {ended}");
}

#[test]
fn status_done_and_failed_shows_only_endings_each_with_its_result() {
    let dir = Dir::new();
    shell_experiment(&dir, 4, r#"[ "$EXP_PARAM_I" = 1 ] && exit 3; echo "{{\"loss\": $EXP_PARAM_I}}""#);
    dir.run_stdin("exp-run", &["--names", "-", "-q"], "c0\n").succeeds();
    let watcher = watch(&dir, &["--json", "--results", "--status", "done", "--status", "failed"]);
    let initial = wait_lines(&watcher, 1);
    assert_eq!((initial[0]["name"].clone(), initial[0]["result"].clone()), (json!("c0"), json!({"loss": 0})));

    dir.run("exp-run", &["-q"]).fails_with(1);
    // A last ending, so that every line before it has come.
    dir.run("exp-add", &["--grid", "i=4"]).succeeds();
    dir.run("exp-run", &["-q"]).succeeds();
    let seen = wait_lines(&watcher, 5);
    assert_eq!(
        changes(&seen),
        [("c0", "done"), ("c1", "failed"), ("c2", "done"), ("c3", "done"), ("c4", "done")],
        "{seen:#?}"
    );
    assert_eq!((seen[1]["exit_code"].clone(), seen[1]["result"].clone()), (json!(3), Value::Null));
    for (line, loss) in [(&seen[2], 2), (&seen[3], 3), (&seen[4], 4)] {
        assert_eq!(line["result"], json!({"loss": loss}), "{line}");
    }
}

#[test]
fn every_ending_shows_exactly_once_across_folds_resets_and_two_runners() {
    let dir = Dir::new();
    let script = r#"[ "$EXP_PARAM_I" = 7 ] && exit 1; sleep "0.$((EXP_PARAM_I % 3))""#;
    shell_experiment(&dir, 20, script);
    dir.run("exp-run", &["--limit", "1", "-q"]).succeeds();
    let watcher = watch(&dir, &["--json", "--status", "done", "--status", "failed"]);
    wait_lines(&watcher, 1);

    let runners =
        [Bg::run(&dir, &["-j2", "--progress", "never"]), Bg::run(&dir, &["-j2", "--progress", "never"])];
    // Mid-run: a done config back to todo, and configs added (each add of
    // a small experiment folds the journal into experiment.yaml).
    let seen = wait_lines(&watcher, 4);
    let first_ending =
        seen[1..].iter().find(|line| line["status"] == "done").map(ending).expect("a done config");
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], &format!("{}\n", first_ending.0)).succeeds();
    dir.run("exp-add", &["--grid", "i=20..23"]).succeeds();
    dir.run("exp-add", &["--grid", "i=24"]).succeeds();
    for runner in runners {
        let out = runner.finish();
        assert!(matches!(out.code, Some(0 | 1)), "{out:#?}");
    }
    // Whatever the runners left (the reset config, late adds) runs now.
    dir.run("exp-run", &["-j2", "-q"]).succeeds();
    // A last ending, so that every line before it has come.
    dir.run("exp-add", &["--grid", "i=99"]).succeeds();
    dir.run("exp-run", &["-q"]).succeeds();
    wait_for("the last ending", || lines(&watcher).iter().any(|line| line["name"] == "c99"));

    let mut expected: Vec<(String, u64, String)> = dir
        .status()
        .iter()
        .inspect(|row| assert!(row["status"] == "done" || row["status"] == "failed", "{row}"))
        .map(ending)
        .collect();
    expected.push(first_ending);
    expected.sort();
    let mut shown: Vec<(String, u64, String)> = lines(&watcher).iter().map(ending).collect();
    shown.sort();
    let mut times: BTreeMap<&(String, u64, String), usize> = BTreeMap::new();
    for seen in &shown {
        *times.entry(seen).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "endings shown more than once: {twice:?}");
    assert_eq!(shown, expected, "every ending, each once");
}

#[test]
fn a_retried_attempt_folded_away_while_the_watcher_slept_still_shows_its_ending() {
    let dir = Dir::new();
    shell_experiment(&dir, 4, r#"[ "$EXP_ATTEMPT" = 1 ] && exit 1; true"#);
    dir.run("exp-run", &["--limit", "1", "--retries", "1", "-q"]).succeeds();
    let watcher = watch(&dir, &["--json", "--status", "done", "--status", "failed"]);
    assert_eq!(changes(&wait_lines(&watcher, 1)), [("c0", "done")]);
    // While it sleeps, each config fails, is retried and ends, and the
    // journal is folded four times (each run's end, each add).
    watcher.signal(Signal::SIGSTOP);
    dir.run("exp-run", &["--retries", "1", "-q"]).succeeds();
    dir.run("exp-add", &["--grid", "i=10"]).succeeds();
    dir.run("exp-add", &["--grid", "i=11"]).succeeds();
    dir.run("exp-run", &["--retries", "1", "-q"]).succeeds();
    watcher.signal(Signal::SIGCONT);
    let seen = wait_lines(&watcher, 11);
    let mut endings: Vec<(String, u64, String)> = seen[1..]
        .iter()
        .map(|line| {
            let (name, attempts, _) = ending(line);
            (name, attempts, line["status"].as_str().unwrap().to_string())
        })
        .collect();
    endings.sort();
    let mut expected = Vec::new();
    for name in ["c1", "c10", "c11", "c2", "c3"] {
        expected.push((name.to_string(), 1, "failed".to_string()));
        expected.push((name.to_string(), 2, "done".to_string()));
    }
    assert_eq!(endings, expected, "{seen:#?}");
}

#[test]
fn an_ending_read_late_carries_the_result_of_its_own_attempt() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, r#"echo "{{\"attempt\": $EXP_ATTEMPT}}""#);
    dir.run("exp-run", &["--limit", "1", "-q"]).succeeds();
    let watcher = watch(&dir, &["--json", "--results", "--status", "done"]);
    assert_eq!(changes(&wait_lines(&watcher, 1)), [("c0", "done")]);
    // While it sleeps, c1 ends, is reset, and runs again: result.json is
    // the second attempt's when the watcher reads the first one's ending.
    watcher.signal(Signal::SIGSTOP);
    dir.run("exp-run", &["-q"]).succeeds();
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n").succeeds();
    dir.run("exp-run", &["-q"]).succeeds();
    watcher.signal(Signal::SIGCONT);
    let seen = wait_lines(&watcher, 3);
    let results: Vec<(&str, u64, &Value)> = seen
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["attempts"].as_u64().unwrap(), &l["result"]))
        .collect();
    let (first, second) = (json!({"attempt": 1}), json!({"attempt": 2}));
    assert_eq!(results, [("c0", 1, &first), ("c1", 1, &first), ("c1", 2, &second)]);
}

#[test]
fn on_a_big_experiment_adds_in_the_journal_runs_and_a_removal_each_show() {
    let dir = Dir::new();
    big_experiment(&dir);
    let watcher = watch(&dir, &["--json"]);
    wait_lines(&watcher, 8000);
    let state = dir.state_file();
    // Added configs wait in the journal: the state file is not rewritten.
    dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":8000,\"pad\":\"y\"}\n{\"i\":8001,\"pad\":\"y\"}\n")
        .succeeds();
    assert_eq!(dir.state_file(), state);
    wait_lines(&watcher, 8002);
    dir.run_stdin("exp-run", &["--names", "-", "-q"], "c8000\nc3\n").succeeds();
    // A removal rewrites the state file.
    dir.run_stdin("exp-clean", &["--names", "-"], "c5\n").succeeds();
    let seen = wait_lines(&watcher, 8007);
    let mut by_config: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, status) in changes(&seen[8000..]) {
        by_config.entry(name).or_default().push(status);
    }
    let expected = [
        ("c3", vec!["running", "done"]),
        ("c5", vec!["removed"]),
        ("c8000", vec!["todo", "running", "done"]),
        ("c8001", vec!["todo"]),
    ];
    assert_eq!(by_config, BTreeMap::from(expected), "{:#?}", &seen[8000..]);
    watcher.signal(Signal::SIGTERM);
    watcher.finish().fails_with(143);
}

#[test]
fn a_dead_runners_claim_put_back_to_todo_shows_as_a_line() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    let mut runner = Bg::run(&dir, &["--progress", "never"]);
    let pids = wait_running(&dir, &["c0"]);
    let watcher = watch(&dir, &["--json"]);
    assert_eq!(changes(&wait_lines(&watcher, 1)), [("c0", "running")]);
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    drop(runner);
    // Its watchdog kills its command; then exp-status recovers the claim.
    wait_for("the command to die", || !alive(pids[0]));
    wait_for("the claim to be recovered", || statuses(&dir)["c0"] == "todo");
    let seen = wait_lines(&watcher, 2);
    assert_eq!(changes(&seen), [("c0", "running"), ("c0", "todo")]);
    assert!(seen[1]["interruption_time"].is_string(), "{}", seen[1]);
}

#[test]
fn it_ends_when_its_reader_goes_away_even_while_nothing_changes() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, "true");
    let status = quote(&bin("exp-status"));
    for flags in ["--json", "", "--json --results --status todo"] {
        // pipefail: the pipeline's status is exp-status's unless it is 0.
        let script = format!("set -o pipefail; {status} exp --watch {flags} | head -1");
        let out = Bg::spawn_program(&dir, "bash", &["-c", &script]).finish_within(Duration::from_secs(30));
        out.succeeds();
        assert_eq!(out.stdout.lines().count(), 1, "{out:#?}");
    }
}

#[test]
fn a_signal_ends_it_with_128_plus_n() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, "true");
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143), (Signal::SIGHUP, 129)] {
        let watcher = watch(&dir, &["--json"]);
        wait_lines(&watcher, 2);
        watcher.signal(signal);
        watcher.finish().fails_with(code).stderr_lacks("panic");
    }
}

#[test]
fn watch_refuses_flags_it_cannot_serve() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "true");
    let state = dir.state();
    for flag in [&["--counts"][..], &["--names"], &["--check"], &["--log", "c0"]] {
        let args = [&["--watch"], flag].concat();
        let out = run_bounded(&dir, "exp-status", &args);
        out.fails_with(2).no_stdout().stderr_has(flag[0]);
    }
    // `removed` is a status only a watch can see.
    let out = run_bounded(&dir, "exp-status", &["--status", "removed", "--json"]);
    out.fails_with(2).no_stdout().stderr_has("--status removed").stderr_has("--watch");
    run_bounded(&dir, "exp-status", &["--watch", "--status", "finished"])
        .fails_with(2)
        .stderr_has("finished");
    assert_eq!(dir.state(), state);
}
