//! `exp-summary --html`: one self-contained page, checked in headless
//! Chromium (no console error, no request, a row per config, sorting both
//! ways, every plot, a screenshot that is not blank) and as text.

use crate::harness::*;
use serde_json::Value;
use std::process::Command;

/// A sweep of lr × seed × opt whose command prints `loss` and `acc` and
/// writes a two-step curve of `loss`; the four configs with seed 2 and sgd
/// fail. 24 configs, all run.
fn sweep_with_failures(dir: &Dir) {
    let objective = script(
        dir.path(),
        "objective.sh",
        r#"lr=$1 seed=$2 opt=$3
if [ "$seed" = 2 ] && [ "$opt" = sgd ]; then echo "RuntimeError: diverged at step 17" >&2; exit 1; fi
loss=$(awk -v lr="$lr" -v s="$seed" 'BEGIN { print lr * 100 + s / 10 }')
first=$(awk -v loss="$loss" 'BEGIN { print loss + 1 }')
printf '{"step": 1, "loss": %s}\n{"step": 2, "loss": %s}\n' "$first" "$loss" >> "$EXP_METRICS"
awk -v loss="$loss" -v lr="$lr" 'BEGIN { printf "{\"loss\": %s, \"acc\": %g}\n", loss, 0.9 - lr }'"#,
    );
    let objective = objective.display().to_string();
    dir.init(
        &["--description", "lr & seeds <b>not bold</b>"],
        &["sh", &objective, "{lr}", "{seed}", "{opt}"],
    );
    dir.run(
        "exp-add",
        &["--grid", "lr=0.0001,0.001,0.01,0.1", "--grid", "seed=0,1,2", "--grid", "opt=adam,sgd"],
    )
    .succeeds();
    dir.run("exp-run", &["-j", "2", "--progress", "never"]).fails_with(1);
}

/// What `tests/browser/check_report.py` found on `page`, sorting by `column`.
fn open_in_chromium(python: &str, dir: &Dir, page: &str, column: &str) -> Value {
    let checker = repo("tests/browser/check_report.py");
    let out = Out::of(
        Command::new(python)
            .arg(checker)
            .arg(dir.path().join(page))
            .args(["--sort", column, "--screenshot"])
            .arg(dir.path().join("page.png"))
            .output()
            .expect("run the browser check"),
    );
    out.succeeds();
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

fn numbers(cells: &Value) -> Vec<Option<f64>> {
    cells.as_array().unwrap().iter().map(|c| c.as_str().unwrap().parse().ok()).collect()
}

#[test]
fn the_report_opens_in_chromium_sorted_plotted_and_offline() {
    let Some(python) = browser_python("the_report_opens_in_chromium_sorted_plotted_and_offline") else {
        return;
    };
    let dir = Dir::new();
    sweep_with_failures(&dir);
    dir.run("exp-add", &["--grid", "lr=1", "--grid", "seed=0", "--grid", "opt=adam"]).succeeds(); // one todo
    dir.run("exp-summary", &["--html", "report.html"]).succeeds().no_stdout().stderr_has("wrote report.html");

    let seen = open_in_chromium(&python, &dir, "report.html", "loss");
    assert_eq!(seen["console_errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["rows"], 25, "one row per config: {seen}");
    // loss and acc, each against lr, seed and opt; the curves of loss.
    assert_eq!(seen["figures"], 7, "{seen}");
    assert_eq!(seen["svgs"], 7, "{seen}");

    let ascending = numbers(&seen["ascending"]);
    let descending = numbers(&seen["descending"]);
    let values: Vec<f64> = ascending.iter().flatten().copied().collect();
    assert_eq!(values.len(), 20, "20 done configs have a loss: {seen}");
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "ascending: {values:?}");
    let mut expected = values.clone();
    expected.reverse();
    assert_eq!(descending.iter().flatten().copied().collect::<Vec<_>>(), expected, "descending");
    assert!(
        ascending[20..].iter().chain(&descending[20..]).all(Option::is_none),
        "empty cells last both ways"
    );
    assert!(
        seen["sorted_note"].as_str().unwrap().contains("25 configs, sorted by loss, descending"),
        "{seen}"
    );
    // One group: the four configs with seed 2 and sgd, whatever their lr.
    let failures = seen["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{seen}");
    let group: Vec<&str> = failures[0].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(group[..2], ["1", "4"], "{group:?}");
    assert!(group[2].contains("RuntimeError: diverged at step N"), "{group:?}");
    assert_eq!(group[3], "all have opt=sgd, seed=2", "{group:?}");
    assert_eq!(group[5], "exp-status exp --failures --group 1 --names | exp-clean exp --names - --reset");
    assert!(seen["screenshot_bytes"].as_u64().unwrap() > 16, "a blank screenshot: {seen}");
    assert!(std::fs::metadata(dir.path().join("page.png")).unwrap().len() > 10_000);
}

#[test]
fn a_big_table_shows_ten_thousand_rows_and_says_so() {
    let Some(python) = browser_python("a_big_table_shows_ten_thousand_rows_and_says_so") else { return };
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    dir.run("exp-add", &["--grid", "i=1..10500"]).succeeds();
    dir.run("exp-summary", &["--html", "big.html"]).succeeds();
    let seen = open_in_chromium(&python, &dir, "big.html", "i");
    assert_eq!(seen["rows"], 10_000, "{}", seen["note"]);
    assert!(seen["note"].as_str().unwrap().contains("the first 10000 of 10500 configs"), "{}", seen["note"]);
    let descending = numbers(&seen["descending"]);
    assert_eq!(descending[0], Some(10500.0), "a sort sees every row, not only those shown");
    assert_eq!(seen["console_errors"], serde_json::json!([]));
}

#[test]
fn the_page_is_self_contained_and_shows_hostile_text_as_text() {
    let dir = Dir::new();
    dir.init(
        &["--description", "<img src=x onerror=alert(1)>"],
        &["sh", "-c", "echo '{{\"loss\": 1}}'", "{tag}"],
    );
    let hostile = r#"{"tag":"</script><script>alert(1)</script>"}"#;
    dir.run_stdin("exp-add", &["-f", "-"], &format!("{hostile}\n{{\"tag\":\"plain\"}}\n")).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    dir.run("exp-summary", &["--html", "page.html"]).succeeds();
    let page = dir.read("page.html");
    assert_eq!(page.matches("<script").count(), 2, "the data and the sorter, nothing injected");
    assert!(!page.contains("<img") && page.contains("&lt;img"), "the description is text");
    assert!(!page.contains("http:") && !page.contains("https:"), "no URL, not even a namespace");
    for loader in ["<link", "<iframe", "<object", "@import", "url("] {
        assert!(!page.contains(loader), "nothing loaded: {loader}");
    }
}

#[test]
fn configs_not_done_are_shown_never_refused() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    dir.run("exp-add", &["--grid", "x=1,2"]).succeeds();
    dir.run("exp-summary", &["--html", "todo.html"]).succeeds();
    assert!(dir.read("todo.html").contains("2 todo"));
    let out = dir.run("exp-summary", &["--html", "-"]);
    out.succeeds();
    assert!(out.stdout.starts_with("<!DOCTYPE html>") && out.stdout.contains("2 todo"), "- is stdout");
    assert!(!dir.path().join("-").exists());
    dir.run("exp-summary", &["--html", "no/such/folder/page.html"])
        .fails_with(2)
        .stderr_has("--html")
        .no_stdout();
    dir.run("exp-summary", &["--html", "a.html", "--json"]).fails_with(2);
    assert!(!dir.path().join("a.html").exists());
}

#[test]
fn over_seeds_the_plots_show_each_groups_mean_and_spread() {
    let dir = Dir::new();
    sweep_with_failures(&dir);
    dir.run("exp-summary", &["--html", "over.html", "--over", "seed"]).succeeds();
    let page = dir.read("over.html");
    // loss and acc against lr and opt, over seed; no plot against seed.
    assert_eq!(page.matches("<figure class=\"plot\"").count(), 4, "{page}");
    assert_eq!(page.matches("mean ± std over seed").count(), 4);
    assert!(!page.contains("data-param=\"seed\""));
    dir.run("exp-summary", &["--html", "x.html", "--over", "nope"]).fails_with(2).stderr_has("nope");
    assert!(!dir.path().join("x.html").exists());
}

#[test]
fn several_experiments_share_one_page() {
    let dir = Dir::new();
    for (name, values) in [("a", "x=1,2"), ("b", "y=3")] {
        let out = dir.program(bin("exp-init")).args([name, "--", "echo", "{{\"v\": 1}}"]).output().unwrap();
        Out::of(out).succeeds();
        Out::of(dir.program(bin("exp-add")).args([name, "--grid", values]).output().unwrap()).succeeds();
    }
    Out::of(dir.program(bin("exp-run")).args(["a", "--progress", "never"]).output().unwrap()).succeeds();
    let out =
        Out::of(dir.program(bin("exp-summary")).args(["a", "b", "--html", "both.html"]).output().unwrap());
    out.succeeds();
    let page = dir.read("both.html");
    assert_eq!(page.matches("<header class=\"experiment\">").count(), 2);
    assert!(page.contains(r#""columns":["experiment","name","status","x","y","v","duration"]"#), "{page}");
}
