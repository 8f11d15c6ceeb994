//! The examples a user copies: `examples/train.py` keeps the cache
//! contract (a replay gives back exactly what the recorded run computed),
//! checkpoints on SIGTERM and resumes, writes its metrics, and `examples/jq-recipes.sh` answers
//! on a real sweep.

use crate::harness::*;
use nix::sys::signal::Signal;
use std::path::Path;

/// The example trainer over `lr` and `seed`, or None (after a note) without python3.
fn trainer(dir: &Dir, epochs: u32) -> Option<()> {
    if !python3("examples tests") {
        return None;
    }
    let train = repo("examples/train.py").display().to_string();
    let epochs = epochs.to_string();
    dir.init(
        &["--naming", "lr{lr}-s{seed}"],
        &["python3", &train, "--lr", "{lr}", "--seed", "{seed}", "--epochs", &epochs],
    );
    Some(())
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).unwrap()
}

#[test]
fn a_replay_of_the_example_trainer_gives_back_the_recorded_result() {
    let dir = Dir::new();
    let Some(()) = trainer(&dir, 2) else { return };
    dir.run("exp-add", &["--grid", "lr=0.1,0.2", "--grid", "seed=0"]).succeeds();
    dir.run("exp-run", &["-j", "2", "--progress", "never"]).succeeds();
    let folder = dir.exp().join("configs/lr0.1-s0");
    let recorded = json(&folder.join("result.json"));

    let replay = dir.run("exp-run", &["--replay", "lr0.1-s0"]);
    replay.succeeds().stdout_has("epoch 2/2"); // the command's own output
    assert_eq!(json(&folder.join("result.replay.json")), recorded, "the cached random draw was reused");

    // Without its cache a replay fails, rather than compute anew.
    std::fs::remove_dir_all(folder.join("cache")).unwrap();
    std::fs::create_dir(folder.join("cache")).unwrap();
    let missing = dir.run("exp-run", &["--replay", "lr0.1-s0"]);
    assert_ne!(missing.code, Some(0), "{missing:?}");
    missing.stderr_has("no cached answer");
}

#[test]
fn the_example_trainer_writes_a_metrics_line_per_epoch_and_runs_without_exp() {
    let dir = Dir::new();
    let Some(()) = trainer(&dir, 3) else { return };
    dir.run("exp-add", &["--grid", "lr=0.1,0.2", "--grid", "seed=0"]).succeeds();
    dir.run("exp-run", &["-j", "2", "--progress", "never"]).succeeds();
    let curves = dir.run("exp-summary", &["--metrics", "--json"]);
    curves.succeeds();
    let lines = curves.json_lines();
    assert_eq!(lines.len(), 6, "{curves:?}");
    let epochs: Vec<&serde_json::Value> = lines.iter().map(|l| &l["metrics"]["epoch"]).collect();
    assert_eq!(epochs, [1, 2, 3, 1, 2, 3]);
    let rows = dir.run("exp-status", &["--json", "--results"]).succeeds().rows_by_name();
    let row = &rows["lr0.1-s0"];
    assert_eq!(row["metrics"]["loss"], row["result"]["loss"], "the last epoch's loss is the result's: {row}");
    // Outside exp: no $EXP_METRICS, no $EXP_RESULT.
    let train = repo("examples/train.py");
    let alone = dir.program("python3").args([train.to_str().unwrap(), "--epochs", "1"]).output().unwrap();
    let alone = Out::of(alone);
    alone.succeeds().stdout_has("\"loss\"");
}

#[test]
fn the_example_trainer_checkpoints_on_sigterm_and_resumes() {
    let dir = Dir::new();
    let Some(()) = trainer(&dir, 12) else { return };
    dir.run("exp-add", &["--grid", "lr=0.1", "--grid", "seed=0"]).succeeds();
    let runner = Bg::run(&dir, &["--progress", "never"]);
    let log = dir.exp().join("configs/lr0.1-s0/stdout.log");
    wait_for("two epochs", || std::fs::read_to_string(&log).is_ok_and(|text| text.contains("epoch 2/")));
    runner.signal(Signal::SIGTERM);
    let out = runner.finish();
    assert_eq!(out.code, Some(143), "{out:?}");
    let row = &by_name(&dir)["lr0.1-s0"];
    assert_eq!(row["status"], "todo", "a checkpoint without a result is not done: {row:#}");

    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let again = std::fs::read_to_string(&log).unwrap();
    assert!(again.contains("resuming from epoch"), "{again}");
    assert_eq!(by_name(&dir)["lr0.1-s0"]["status"], "done");
}

#[test]
fn the_jq_recipes_answer_on_a_real_sweep() {
    let dir = Dir::new();
    let Some(()) = trainer(&dir, 1) else { return };
    if jq().arg("--version").output().is_err() {
        eprintln!("note: skipped: jq is not installed");
        return;
    }
    // lr=1 diverges: one failed config for the recipes to find.
    dir.run("exp-add", &["--grid", "lr=0.1,0.3,1", "--grid", "seed=0"]).succeeds();
    dir.run("exp-run", &["-j", "2", "--progress", "never"]).fails_with(1);
    let out = Out::of(
        std::process::Command::new(repo("examples/jq-recipes.sh"))
            .env("EXP_DIR", dir.exp())
            .env("PATH", path_with_tools())
            .output()
            .expect("run the recipes"),
    );
    out.succeeds()
        .stdout_has("lr1-s0\texit code 1: loss diverged") // the failed one, with why
        .stdout_has("\"name\":\"lr0.3-s0\""); // the best by loss

    // The results table holds the done configs, best first, despite the failure.
    let table = out.stdout.split("# a results table").nth(1).expect("the table's heading");
    let rows: Vec<&str> = table.lines().skip(1).take_while(|line| !line.starts_with('#')).collect();
    let names: Vec<&str> = rows.iter().map(|row| row.split('\t').next().unwrap()).collect();
    assert_eq!(names, ["lr0.3-s0", "lr0.1-s0"], "{out:?}");
}
