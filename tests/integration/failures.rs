//! `exp-status --failures`: failures from real commands grouped by error
//! signature, their telling params, the table, `--json`, `--names`,
//! `--group N` and the retry pipe through the real `exp-clean`.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::Command;

/// The command of [`triage`]: each config fails (or not) by its params,
/// with an error whose numbers, hex id and path differ from config to
/// config: batch 512 runs out of memory, opt sgd diverges, c19 misses a
/// key, c18 is killed by SIGKILL; the rest end well.
const TRIAGE: &str = r#"
case "$EXP_PARAM_BATCH" in 512)
  echo "RuntimeError: CUDA out of memory. Tried to allocate $$ MiB (ctx 0x$(printf %x $$)abcdef) in $EXP_CONFIG_DIR/train.py" >&2
  exit 1;;
esac
case "$EXP_PARAM_OPT" in sgd) echo "ValueError: loss is nan at step $(( $$ % 97 ))" >&2; exit 3;; esac
if [ "$EXP_PARAM_I" = 19 ]; then echo "some output first"; echo "KeyError: 'lr'" >&2; exit 1; fi
if [ "$EXP_PARAM_I" = 18 ]; then kill -KILL $$; fi
exit 0
"#;

/// 20 configs `c0..c19` run once by [`TRIAGE`], failing in four groups:
/// c0-c6 (batch 512; 7), c7-c10 (opt sgd; 4), c19 and c18 (one each).
/// Params: `i`; `batch` 512 for i < 7, else 64 (even i) or 128; `opt` sgd
/// for i in 1, 7-10, else adam; `lr` 1 for i in 0, 7, 8, 9, 15, else 0.1;
/// `everywhere` "x" in every config.
fn triage(dir: &Dir) {
    dir.init(&["--naming", "c{i}", "--shell", TRIAGE], &[]);
    let lines: String = (0..20)
        .map(|i| {
            let batch = if i < 7 {
                512
            } else if i % 2 == 0 {
                64
            } else {
                128
            };
            let opt = if [1, 7, 8, 9, 10].contains(&i) { "sgd" } else { "adam" };
            let lr = if [0, 7, 8, 9, 15].contains(&i) { json!(1) } else { json!(0.1) };
            format!("{}\n", json!({"i": i, "batch": batch, "opt": opt, "lr": lr, "everywhere": "x"}))
        })
        .collect();
    dir.run_stdin("exp-add", &["-f", "-"], &lines).succeeds();
    dir.run("exp-run", &["-j", "2", "-q"]).fails_with(1);
}

fn names(range: impl IntoIterator<Item = usize>) -> Vec<String> {
    range.into_iter().map(|i| format!("c{i}")).collect()
}

/// `exp-status --failures --json`, parsed.
fn groups(dir: &Dir) -> Vec<Value> {
    dir.run("exp-status", &["--failures", "--json"]).succeeds().json_lines()
}

#[test]
fn errors_that_differ_only_in_numbers_hex_ids_and_paths_are_one_group_largest_first() {
    let dir = Dir::new();
    triage(&dir);
    let groups = groups(&dir);
    let shape: Vec<(u64, &str, u64)> = groups
        .iter()
        .map(|g| {
            (g["group"].as_u64().unwrap(), g["signature"].as_str().unwrap(), g["count"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "exit code N: RuntimeError: CUDA out of memory. Tried to allocate N MiB (ctx H) in PATH", 7),
            (2, "exit code N: ValueError: loss is nan at step N", 4),
            // A tie is broken by signature.
            (3, "exit code N: KeyError: \"…\"", 1),
            (4, "killed by signal SIGKILL", 1),
        ]
    );
    assert_eq!(groups[0]["names"], json!(names(0..7)));
    assert_eq!(groups[1]["names"], json!(names(7..11)));
    assert_eq!(groups[2]["names"], json!(["c19"]));
    // The example is one of the group's errors, verbatim, as exp-status
    // --json records it.
    let rows = by_name(&dir);
    let example = groups[0]["example"].as_str().unwrap();
    assert_eq!(example, rows["c0"]["error"].as_str().unwrap());
    assert!(example.contains(&format!("{}/train.py", dir.config("c0").display())), "{example}");
    assert_ne!(rows["c0"]["error"], rows["c1"]["error"], "the errors differ, the group is one");
    assert_eq!(groups[3]["example"], "killed by signal SIGKILL");
}

#[test]
fn json_has_one_line_per_group_in_its_exact_shape() {
    let dir = Dir::new();
    triage(&dir);
    let out = dir.run("exp-status", &["--failures", "--json"]);
    out.succeeds();
    assert_eq!(out.stdout.lines().count(), 4, "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    for group in out.json_lines() {
        let keys: Vec<&str> = group.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["group", "signature", "count", "example", "names", "params"], "{group}");
        assert_eq!(group["count"].as_u64().unwrap() as usize, group["names"].as_array().unwrap().len());
        for values in group["params"].as_object().unwrap().values() {
            for value in values.as_array().unwrap() {
                let keys: Vec<&str> = value.as_object().unwrap().keys().map(String::as_str).collect();
                assert_eq!(keys, ["value", "in_group", "group", "in_all", "all"], "{group}");
            }
        }
    }
    // The same through jq, as a script would read it.
    let jq = through_jq(
        &dir,
        "exp-status",
        &["--failures", "--json"],
        &["-r", r#""\(.group) \(.count) \(.params.batch[0].value)""#],
    );
    assert_eq!(jq.stdout, "1 7 512\n2 4 null\n3 1 null\n4 1 null\n");
}

#[test]
fn telling_params_are_held_by_all_of_a_group_or_twice_as_often_never_by_every_config() {
    let dir = Dir::new();
    triage(&dir);
    let groups = groups(&dir);
    let telling = |group: &Value, key: &str| -> Vec<(Value, u64, u64, u64, u64)> {
        group["params"][key]
            .as_array()
            .map(|values| {
                values
                    .iter()
                    .map(|v| {
                        let n = |k: &str| v[k].as_u64().unwrap();
                        (v["value"].clone(), n("in_group"), n("group"), n("in_all"), n("all"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let keys =
        |group: &Value| -> Vec<String> { group["params"].as_object().unwrap().keys().cloned().collect() };
    let oom = &groups[0];
    // Held by every config of the group, not by every config: batch=512.
    assert_eq!(telling(oom, "batch"), [(json!(512), 7, 7, 7, 20)]);
    // opt adam (6 of 7, 15 of 20) and lr 0.1 (6 of 7, 15 of 20) are not
    // twice as frequent; `everywhere` is held by every config.
    assert_eq!(keys(oom), ["batch", "i"], "{oom}");
    // Each i: 1 of 7 in the group, 1 of 20 overall, so twice as frequent.
    assert_eq!(telling(oom, "i").len(), 7);
    let nan = &groups[1];
    assert_eq!(telling(nan, "opt"), [(json!("sgd"), 4, 4, 5, 20)]);
    // lr=1: 3 of 4 in the group against 5 of 20 overall: twice as frequent
    // and more, not held by all of it.
    assert_eq!(telling(nan, "lr"), [(json!(1), 3, 4, 5, 20)]);
    // batch 64 and 128 are 2 of 4 each against 6 and 7 of 20: not telling.
    assert_eq!(keys(nan), ["i", "lr", "opt"], "{nan}");
    // A group of one has no telling param.
    assert_eq!(groups[2]["params"], json!({}));
    assert_eq!(groups[3]["params"], json!({}));
}

#[test]
fn the_table_names_the_pattern_the_first_names_and_the_retry() {
    let dir = Dir::new();
    triage(&dir);
    let out = dir.run("exp-status", &["--failures"]);
    out.succeeds();
    assert!(out.stderr.is_empty(), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "13 of 20 configs failed, 4 kinds of error:", "{}", out.stdout);
    assert_eq!(
        lines[1],
        "#1  7 × exit code N: RuntimeError: CUDA out of memory. Tried to allocate N MiB (ctx H) in PATH — all have batch=512"
    );
    assert_eq!(lines[2], "    c0, c1, c2, and 4 more");
    assert!(
        lines[3].starts_with("    e.g. exit code 1: RuntimeError: CUDA out of memory. Tried to allocate "),
        "{lines:?}"
    );
    assert_eq!(
        lines[4],
        "    retry: exp-status exp --failures --group 1 --names | exp-clean exp --names - --reset"
    );
    assert_eq!(lines[5], "");
    // Values held by one config of a group (each i) are left to --json.
    assert_eq!(
        lines[6],
        "#2  4 × exit code N: ValueError: loss is nan at step N — all have opt=sgd; lr=1 in 3 of 4 (25% overall)"
    );
    assert_eq!(lines[7], "    c7, c8, c9, and 1 more");
    out.stdout_has("#3  1 × exit code N: KeyError: \"…\"\n    c19\n    e.g. exit code 1: KeyError: 'lr'\n");
    // Nothing to show for an error that is its own signature.
    out.stdout_has(
        "#4  1 × killed by signal SIGKILL\n    c18\n    retry: exp-status exp --failures --group 4 --names",
    );
    // --group N shows group N alone, under its own number.
    let second = dir.run("exp-status", &["--failures", "--group", "2"]);
    second.succeeds().stdout_has("#2  4 × exit code N: ValueError").stdout_lacks("#1").stdout_lacks("#3");
    second.stdout_has("13 of 20 configs failed, 4 kinds of error:");
}

#[test]
fn names_separate_groups_with_a_blank_line_and_group_n_keeps_one() {
    let dir = Dir::new();
    triage(&dir);
    let all = dir.run("exp-status", &["--failures", "--names"]);
    all.succeeds();
    let expected = format!("{}\n\n{}\n\nc19\n\nc18\n", names(0..7).join("\n"), names(7..11).join("\n"));
    assert_eq!(all.stdout, expected);
    let second = dir.run("exp-status", &["--failures", "--names", "--group", "2"]);
    assert_eq!(second.succeeds().stdout, format!("{}\n", names(7..11).join("\n")));
    let json = dir.run("exp-status", &["--failures", "--json", "--group", "4"]).succeeds().json_lines();
    assert_eq!(json.len(), 1);
    assert_eq!((json[0]["group"].as_u64(), json[0]["names"].clone()), (Some(4), json!(["c18"])));
    // Past the last group: exit 2, saying how many there are.
    let past = dir.run("exp-status", &["--failures", "--names", "--group", "5"]);
    past.fails_with(2).no_stdout().stderr_has("--group 5: there are 4 groups of failures (1 to 4)");
    for bad in ["0", "-1", "x", ""] {
        let arg = format!("--group={bad}");
        dir.run("exp-status", &["--failures", &arg]).fails_with(2).no_stdout().stderr_has("--group");
    }
    // exp-clean takes the blank lines: every failed config is reset.
    let reset = dir.run_stdin("exp-clean", &["--names", "-", "--reset"], &all.stdout);
    reset.succeeds();
    assert_eq!(counts(&dir, &[])["failed"], 0);
    assert_eq!(counts(&dir, &[])["todo"], 13);
}

#[test]
fn the_printed_retry_pipe_resets_exactly_that_group() {
    let dir = Dir::new();
    triage(&dir);
    let table = dir.run("exp-status", &["--failures"]);
    let retry =
        table.succeeds().stdout.lines().filter_map(|l| l.trim().strip_prefix("retry: ")).nth(1).unwrap();
    assert_eq!(retry, "exp-status exp --failures --group 2 --names | exp-clean exp --names - --reset");
    // The command as printed, run by a shell that finds the tools on PATH.
    let tools = bin("exp-status").parent().unwrap().to_path_buf();
    let path = format!("{}:{}", tools.display(), std::env::var("PATH").unwrap_or_default());
    let out = Out::of(dir.program("sh").args(["-c", retry]).env("PATH", path).output().unwrap());
    out.succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "todo"), names(7..11).into_iter().collect());
    let failed: Vec<String> = names(0..7).into_iter().chain(["c18".into(), "c19".into()]).collect();
    assert_eq!(with_status(&rows, "failed"), failed.into_iter().collect());
    // What was group 3 is now group 2.
    let left = groups(&dir);
    assert_eq!(left.len(), 3);
    assert_eq!(left[1]["names"], json!(["c19"]));
}

#[test]
fn a_directory_that_needs_quoting_is_quoted_in_the_retry() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["false"]);
    dir.run("exp-add", &["--grid", "i=1..2"]).succeeds();
    dir.run("exp-run", &["-q"]).fails_with(1);
    std::fs::rename(dir.exp(), dir.path().join("my exp")).unwrap();
    let out = Out::of(dir.cmd("exp-status").args(["my exp", "--failures"]).output().unwrap());
    // Each i is held by one config of two: nothing telling.
    out.succeeds().stdout_has("#1  2 × exit code N\n");
    let retry = out.stdout.lines().find_map(|l| l.trim().strip_prefix("retry: ")).unwrap();
    assert_eq!(
        retry,
        "exp-status 'my exp' --failures --group 1 --names | exp-clean 'my exp' --names - --reset"
    );
}

#[test]
fn no_colour_in_a_pipe_or_under_no_color_and_never_in_data() {
    let dir = Dir::new();
    triage(&dir);
    const ESC: char = '\x1b';
    let coloured = dir.run("exp-status", &["--failures", "--color", "always"]);
    coloured.succeeds().stdout_has("\x1b[31m#1");
    // Dir::cmd sets NO_COLOR; without it, a pipe is still no terminal.
    for color in ["auto", "never"] {
        let with = dir.run("exp-status", &["--failures", "--color", color]);
        with.succeeds().stdout_lacks(ESC).stdout_has("#1");
        let without = Out::of(
            dir.cmd("exp-status")
                .args(["exp", "--failures", "--color", color])
                .env_remove("NO_COLOR")
                .output()
                .unwrap(),
        );
        without.succeeds().stdout_lacks(ESC).stdout_has("#1");
    }
    for data in [&["--json"][..], &["--names"]] {
        let out = dir.run("exp-status", &[&["--failures", "--color", "always"][..], data].concat());
        out.succeeds().stdout_lacks(ESC);
    }
}

#[test]
fn on_a_terminal_the_table_is_coloured_and_cut_to_its_width_unless_no_color() {
    if !can_run("script", &["--version"], "failures on a terminal") {
        return;
    }
    let dir = Dir::new();
    triage(&dir);
    let status = bin("exp-status");
    let on_a_terminal = |no_color: bool| {
        let line = format!("stty cols 60 rows 40; {} exp --failures", quote(&status));
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"])
            .current_dir(dir.path())
            .env_remove("EXP_DIR")
            .env("TERM", "xterm");
        match no_color {
            true => cmd.env("NO_COLOR", "1"),
            false => cmd.env_remove("NO_COLOR"),
        };
        let out = Out::of(cmd.stdin(std::process::Stdio::null()).output().unwrap());
        out.succeeds();
        out.stdout
    };
    let coloured = on_a_terminal(false);
    assert!(coloured.contains("\x1b[31m#1"), "{coloured:?}");
    let plain = on_a_terminal(true);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    // Every line but the retry commands (meant to be copied whole) fits 60
    // columns; the telling params outlive the signature's tail.
    let headline = plain.lines().find(|l| l.starts_with("#1")).unwrap().trim_end();
    assert!(headline.ends_with(" … — all have batch=512"), "{plain}");
    for line in plain.lines().filter(|l| !l.contains("retry:")) {
        assert!(line.trim_end().chars().count() <= 60, "{line:?}\n{plain}");
    }
}

#[test]
fn no_failure_says_so_on_stderr_and_prints_nothing() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, "exit 0");
    dir.run("exp-run", &["-q"]).succeeds();
    dir.run("exp-status", &["--failures"]).succeeds().no_stdout().stderr_has("no config has failed");
    for args in [&["--json"][..], &["--names"]] {
        let out = dir.run("exp-status", &[&["--failures"][..], args].concat());
        out.succeeds().no_stdout();
        assert!(out.stderr.is_empty(), "{out:?}");
    }
    dir.run("exp-status", &["--failures", "--group", "1"]).fails_with(2).stderr_has("no config has failed");
}

#[test]
fn failures_with_a_conflicting_option_is_bad_usage() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, "exit 1");
    dir.run("exp-run", &["-q"]).fails_with(1);
    let before = dir.state();
    for other in [
        &["--counts"][..],
        &["--check"],
        &["--log", "c0"],
        &["--watch"],
        &["--status", "failed"],
        &["--json", "--results"],
        &["--json", "--names"],
    ] {
        let out = dir.run("exp-status", &[&["--failures"][..], other].concat());
        out.fails_with(2).no_stdout().stderr_has("cannot be used with");
    }
    dir.run("exp-status", &["--group", "1"]).fails_with(2).stderr_has("--failures");
    assert_eq!(dir.state(), before, "nothing changed");
}
