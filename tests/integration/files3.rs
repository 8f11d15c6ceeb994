//! Trust, round 3: what reaches the files. Folders swapped for symlinks
//! (defects 5 and 11), a purge that deleted another config's folder
//! (defect 6), spreadsheet formulas in summaries (defect 9), and the exit
//! code of a summary written to a missing folder.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// A folder outside the experiment holding a planted result and logs.
fn outside_with_secrets(dir: &Dir) -> PathBuf {
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("result.json"), r#"{"secret": "SECRET-RESULT"}"#).unwrap();
    std::fs::write(outside.join("stdout.log"), "SECRET-STDOUT\n").unwrap();
    std::fs::write(outside.join("stderr.log"), "SECRET-STDERR\n").unwrap();
    std::fs::write(outside.join("status.txt"), "SECRET-STATUS\n").unwrap();
    outside
}

/// Replace `configs/NAME` by a symlink to `target`.
fn swap_for_symlink(dir: &Dir, name: &str, target: &Path) {
    let folder = dir.config(name);
    std::fs::rename(&folder, dir.path().join(format!("{name}.real"))).unwrap();
    std::os::unix::fs::symlink(target, &folder).unwrap();
}

/// Trust round 3, defect 5: exp-snapshot made `snapshots/STAMP/`, waited,
/// then wrote its files by path: a folder swapped for a symlink during the
/// wait took them (a verbatim result.json among them) outside the experiment.
#[test]
fn a_snapshot_folder_swapped_for_a_symlink_during_the_wait_takes_nothing_outside() {
    let dir = Dir::new();
    // The command traps USR1 but never answers, so the snapshot waits.
    let script = r#"trap ':' USR1
echo '{{"loss": "SECRET-RESULT"}}' > "$EXP_RESULT""#;
    gated_experiment(&dir, 1, script);
    let runner = Bg::run(&dir, &["--progress", "never"]);
    wait_running(&dir, &["c0"]);

    let snapshot = Bg::spawn(&dir, "exp-snapshot", &["--signal", "USR1", "--wait", "3s"]);
    let snapshots = dir.exp().join("snapshots");
    wait_for("the snapshot folder", || std::fs::read_dir(&snapshots).is_ok_and(|mut d| d.next().is_some()));
    let stamp = std::fs::read_dir(&snapshots).unwrap().next().unwrap().unwrap().path();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::rename(&stamp, dir.path().join("moved-away")).unwrap();
    std::os::unix::fs::symlink(&outside, &stamp).unwrap();

    let out = snapshot.finish();
    assert!(matches!(out.code, Some(0 | 3)), "{out:?}");
    assert_eq!(files_under(&outside), Vec::<PathBuf>::new(), "nothing written through the symlink: {out:?}");
    release(&dir);
    runner.finish().succeeds();
}

/// Trust round 3, defect 11: readers followed a `configs/NAME` that is a
/// symlink to a folder outside, leaking its files into shared outputs.
#[test]
fn readers_skip_a_config_folder_that_is_a_symlink_and_name_it() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, r#"echo "{{\"loss\": $EXP_PARAM_I}}""#);
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let outside = outside_with_secrets(&dir);
    swap_for_symlink(&dir, "c1", &outside);
    std::fs::remove_file(dir.exp().join("results_summary.csv")).unwrap();

    let checks: &[(&str, &[&str])] = &[
        ("exp-summary", &[]),
        ("exp-summary", &["--json"]),
        ("exp-status", &["--json", "--results"]),
        ("exp-status", &["--log", "c1"]),
    ];
    for (tool, args) in checks {
        let out = dir.run(tool, args);
        assert!(!out.stdout.contains("SECRET"), "{tool} {args:?} read through the symlink: {out:?}");
        assert!(out.stderr.contains("c1"), "{tool} {args:?} names the skipped config: {out:?}");
        assert!(out.stderr.contains("symlink"), "{tool} {args:?} says why: {out:?}");
    }
    // The other config is read as ever.
    let summary = dir.run("exp-summary", &["--json"]);
    let rows = summary.json_lines();
    assert_eq!(rows[0]["result"]["loss"], 0, "{summary:?}");
    assert_eq!(rows[1]["result"], serde_json::Value::Null, "{summary:?}");

    // --save writes no secret either.
    dir.run("exp-summary", &["--save"]).succeeds();
    assert!(!dir.read("exp/results_summary.csv").contains("SECRET"));
}

/// Trust round 3, defect 11: a runner writes nothing through a
/// `configs/NAME` that is a symlink: it stops (exit 3), the config back to
/// todo with no attempt counted, rather than fail it or write outside.
#[test]
fn a_runner_refuses_to_write_through_a_config_folder_that_is_a_symlink() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "echo ran");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.exp().join("configs/c0")).unwrap();
    let out = dir.run("exp-run", &["--progress", "never"]);
    out.fails_with(3).stderr_has("configs/c0").stderr_has("symlink");
    assert_eq!(files_under(&outside), Vec::<PathBuf>::new());
    let row = &by_name(&dir)["c0"];
    assert_eq!((row["status"].as_str(), row["attempts"].as_u64()), (Some("todo"), Some(0)), "{row}");
}

/// Trust round 3, defect 11: exp-snapshot of a running config whose folder
/// became a symlink copies nothing from behind it.
#[test]
fn a_snapshot_skips_a_running_config_whose_folder_is_a_symlink() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    let runner = Bg::run(&dir, &["--progress", "never"]);
    wait_running(&dir, &["c0"]);
    let outside = outside_with_secrets(&dir);
    swap_for_symlink(&dir, "c0", &outside);

    let out = dir.run("exp-snapshot", &[]);
    out.succeeds();
    let folder = dir.path().join(out.stdout.trim());
    for file in files_under(&folder) {
        let text = std::fs::read_to_string(folder.join(&file)).unwrap();
        assert!(!text.contains("SECRET"), "{file:?} holds what is behind the symlink:\n{text}");
    }
    out.stderr_has("c0").stderr_has("symlink");
    release(&dir);
    // The runner cannot record c0's files safely; whatever it decides, it ends.
    let _ = runner.finish();
}

/// Trust round 3, defect 6: `--purge` of a never-run config deleted the
/// folder kept from an earlier config of the same name (and its checkpoint).
#[test]
fn purging_a_never_run_config_keeps_the_folder_an_earlier_config_of_its_name_left() {
    let dir = Dir::new();
    dir.init(&["--naming", "m-{x}", "--shell", r#"echo step > "$EXP_CACHE_DIR/checkpoint""#], &[]);
    dir.run("exp-add", &["--grid", "x=a"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let checkpoint = dir.exp().join("configs/m-a/cache/checkpoint");
    assert!(checkpoint.exists());

    // Removed without --purge: its folder and checkpoint are kept.
    dir.run_stdin("exp-clean", &["--names", "-"], "m-a\n").succeeds();
    assert!(checkpoint.exists());
    // The same params again: a new m-a, never run, then removed with --purge.
    let added = dir.run("exp-add", &["--grid", "x=a"]).succeeds().json_lines();
    assert_eq!(added[0]["name"], "m-a");
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--purge"], "m-a\n");
    out.succeeds();
    assert_eq!(out.json_lines()[0]["purged"], false, "it had no folder of its own: {out:?}");
    assert!(checkpoint.exists(), "the earlier m-a's checkpoint survives: {out:?}");
}

/// Trust round 3, defect 6: a config that did run is purged whole, as before.
#[test]
fn purging_a_config_that_ran_deletes_its_own_folder() {
    let dir = Dir::new();
    dir.init(&["--naming", "m-{x}", "--shell", r#"echo step > "$EXP_CACHE_DIR/checkpoint""#], &[]);
    dir.run("exp-add", &["--grid", "x=a"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--purge"], "m-a\n");
    assert_eq!(out.succeeds().json_lines()[0]["purged"], true);
    assert!(!dir.exp().join("configs/m-a").exists());
}

/// Trust round 3, defect 9: a text cell starting with `=`, `+`, `-`, `@`,
/// TAB or CR went into CSV as is, a live formula in a spreadsheet.
#[test]
fn text_cells_that_a_spreadsheet_would_run_are_written_with_a_leading_quote() {
    let dir = Dir::new();
    let result = r#"{{note: .cmd, loss: -0.5, delta: "-0.25", tab: "\tx", cr: "\ry", at: "@SUM(A1)", plus: "+1+2", safe: "a=b"}}"#;
    dir.init(&["--shell", &format!("echo \"$EXP_PARAMS\" | jq -c '{result}'")], &[]);
    dir.run_stdin("exp-add", &["-f", "-"], r#"{"cmd": "=HYPERLINK(\"http://x\",\"y\")", "n": -3}"#)
        .succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();

    let read_csv = |text: &str| {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let row: Vec<String> = reader.records().next().unwrap().unwrap().iter().map(String::from).collect();
        header.into_iter().zip(row).collect::<std::collections::BTreeMap<_, _>>()
    };
    let saved = dir.read("exp/results_summary.csv");
    for text in [dir.run("exp-summary", &[]).succeeds().stdout.clone(), saved] {
        let row = read_csv(&text);
        assert_eq!(row["cmd"], r#"'=HYPERLINK("http://x","y")"#, "{text}");
        assert_eq!(row["note"], r#"'=HYPERLINK("http://x","y")"#, "{text}");
        assert_eq!(row["tab"], "'\tx");
        assert_eq!(row["cr"], "'\ry");
        assert_eq!(row["at"], "'@SUM(A1)");
        assert_eq!(row["plus"], "'+1+2");
        assert_eq!(row["safe"], "a=b");
        // Numbers are never touched, nor text that is a number.
        assert_eq!(row["param.n"], "-3", "n is a reserved column: the param is param.n");
        assert_eq!(row["loss"], "-0.5");
        assert_eq!(row["delta"], "-0.25");
    }
    let raw = read_csv(&dir.run("exp-summary", &["--raw"]).succeeds().stdout.clone());
    assert_eq!(raw["cmd"], r#"=HYPERLINK("http://x","y")"#);
    assert_eq!(raw["tab"], "\tx");
    // JSON is data, not a spreadsheet: never touched.
    let json = dir.run("exp-summary", &["--json"]).succeeds().json_lines();
    assert_eq!(json[0]["params"]["cmd"], r#"=HYPERLINK("http://x","y")"#);
}

/// Trust round 3 (found the same day): `-o` into a missing folder is bad
/// usage (exit 2), not a broken experiment (3).
#[test]
fn a_summary_written_into_a_missing_folder_is_bad_usage() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "echo '{{\"loss\": 1}}'");
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let out = dir.run("exp-summary", &["-o", "/missing/dir/x.csv"]);
    out.fails_with(2).stderr_has("/missing/dir");
}
