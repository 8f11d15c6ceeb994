//! `exp-add`: identity, grids, input sources, bad input, hostile names.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn params(lines: &[Value]) -> Vec<Value> {
    lines.iter().map(|l| l["params"].clone()).collect()
}

/// Add `input` on stdin, asserting success; the JSON lines printed.
fn add(dir: &Dir, args: &[&str], input: &str) -> Vec<Value> {
    dir.run_stdin("exp-add", args, input).succeeds().json_lines()
}

// ---------- identity ----------

#[test]
fn one_and_one_point_zero_are_one_config() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    let first = add(&dir, &[], "{\"lr\":1}\n");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["added"], true);
    let second = add(&dir, &[], "{\"lr\":1.0}\n");
    assert_eq!(second[0]["added"], false);
    assert_eq!(second[0]["name"], first[0]["name"]);
    let third = add(&dir, &[], "{\"lr\":1e0}\n{\"lr\":\"1\"}\n");
    assert_eq!(third[0]["added"], false);
    assert_eq!(third[1]["added"], true, "the string \"1\" is another config");
    assert_eq!(dir.status().len(), 2);
}

#[test]
fn key_order_and_nested_objects_do_not_matter() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{a}"]);
    let first = add(&dir, &[], "{\"a\":1,\"b\":{\"x\":[1,2.0],\"y\":{\"p\":true,\"q\":null}}}\n");
    let second = add(&dir, &[], "{\"b\":{\"y\":{\"q\":null,\"p\":true},\"x\":[1.0,2]},\"a\":1.0}\n");
    assert_eq!(second[0]["added"], false);
    assert_eq!(second[0]["name"], first[0]["name"]);
    // Array order does matter.
    let third = add(&dir, &[], "{\"a\":1,\"b\":{\"x\":[2,1],\"y\":{\"p\":true,\"q\":null}}}\n");
    assert_eq!(third[0]["added"], true);
    // Duplicates within one call are one config too.
    let dup = add(&dir, &[], "{\"a\":5}\n{\"a\":5.0}\n");
    assert_eq!(dup[0]["added"], true);
    assert_eq!(dup[1]["added"], false);
    assert_eq!(dup[0]["name"], dup[1]["name"]);
    assert_eq!(dir.status().len(), 3);
}

#[test]
fn a_later_default_makes_old_and_new_configs_identical() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    let old = add(&dir, &[], "{\"lr\":1}\n");
    let out = dir.run_stdin("exp-add", &["--default", "seed=0"], "");
    out.succeeds();
    assert!(dir.read("exp/experiment.yaml").contains("seed"));
    let new = add(&dir, &[], "{\"lr\":1,\"seed\":0}\n");
    assert_eq!(new[0]["added"], false);
    assert_eq!(new[0]["name"], old[0]["name"]);
    let other = add(&dir, &[], "{\"lr\":1,\"seed\":1}\n");
    assert_eq!(other[0]["added"], true);
    // Status shows params merged over the defaults.
    let rows = dir.status();
    let first = rows.iter().find(|r| r["name"] == old[0]["name"]).unwrap();
    assert_eq!(first["params"], json!({"seed": 0, "lr": 1}));
    // Adding the same default again is fine and changes nothing.
    let before = dir.state_file();
    dir.run_stdin("exp-add", &["--default", "seed=0"], "").succeeds();
    assert_eq!(dir.state_file(), before);
}

#[test]
fn changing_a_default_is_refused_and_changes_nothing() {
    let dir = Dir::new();
    dir.init(&["--default", "seed=0"], &["echo", "{lr}", "{seed}"]);
    add(&dir, &[], "{\"lr\":1}\n");
    let before = dir.state_file();
    let out = dir.run_stdin("exp-add", &["--default", "seed=1"], "{\"lr\":2}\n");
    out.fails_with(2).stderr_has("seed").no_stdout();
    assert_eq!(dir.state_file(), before);
    // Same value written differently is not a change.
    dir.run_stdin("exp-add", &["--default", "seed=0.0"], "").succeeds();
    assert_eq!(dir.state_file(), before, "seed=0.0 is seed=0: nothing to write");
}

#[test]
fn a_default_that_would_merge_two_existing_configs_is_refused() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    add(&dir, &[], "{\"lr\":1}\n{\"lr\":1,\"seed\":0}\n");
    let before = dir.state_file();
    let out = dir.run_stdin("exp-add", &["--default", "seed=0"], "");
    out.fails_with(2).stderr_has("seed");
    assert_eq!(dir.state_file(), before);
    // A default that keeps them apart is fine.
    dir.run_stdin("exp-add", &["--default", "seed=1"], "").succeeds();
    assert_eq!(dir.status().len(), 2);
}

// ---------- grids ----------

#[test]
fn grid_is_the_cartesian_product_in_order() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{a}", "{b}"]);
    let out = dir.run("exp-add", &["--grid", "a=1,2", "--grid", "b=x,y"]);
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(
        params(&lines),
        [json!({"a":1,"b":"x"}), json!({"a":1,"b":"y"}), json!({"a":2,"b":"x"}), json!({"a":2,"b":"y"}),]
    );
    assert!(lines.iter().all(|l| l["added"] == true));
    out.stderr_has('4'); // a count on stderr
    assert_eq!(out.stderr.trim().lines().count(), 1, "{out:?}");
    // The same grid again adds nothing.
    let again = dir.run("exp-add", &["--grid", "b=x,y", "--grid", "a=1,2"]);
    assert!(again.succeeds().json_lines().iter().all(|l| l["added"] == false));
    assert_eq!(dir.status().len(), 4);
}

#[test]
fn grid_ranges_are_inclusive() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{n}"]);
    let lines = dir.run("exp-add", &["--grid", "n=1..5"]).succeeds().json_lines();
    assert_eq!(params(&lines), (1..=5).map(|n| json!({"n": n})).collect::<Vec<_>>());
    let one = dir.run("exp-add", &["--grid", "n=7..7"]).succeeds().json_lines();
    assert_eq!(params(&one), [json!({"n": 7})]);
    let negative = dir.run("exp-add", &["--grid", "n=-1..1"]).succeeds().json_lines();
    assert_eq!(params(&negative), [json!({"n":-1}), json!({"n":0}), json!({"n":1})]);
}

#[test]
fn grid_values_are_json_where_they_parse() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{s}"]);
    let lines = dir.run("exp-add", &["--grid", "s=[1,2],[3,4]"]).succeeds().json_lines();
    assert_eq!(params(&lines), [json!({"s":[1,2]}), json!({"s":[3,4]})]);
    let mixed =
        dir.run("exp-add", &["--grid", r#"s=adam,0.1,true,null,{"k":[1,2]},"a,b""#]).succeeds().json_lines();
    assert_eq!(
        params(&mixed),
        [
            json!({"s":"adam"}),
            json!({"s":0.1}),
            json!({"s":true}),
            json!({"s":null}),
            json!({"s":{"k":[1,2]}}),
            json!({"s":"a,b"}),
        ]
    );
}

#[test]
fn file_rows_are_crossed_with_the_grid() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{model}", "{seed}"]);
    let file = dir.path().join("rows.jsonl");
    std::fs::write(&file, "{\"model\":\"a\"}\n{\"model\":\"b\"}\n").unwrap();
    let lines = dir.run("exp-add", &["-f", "rows.jsonl", "--grid", "seed=0..2"]).succeeds().json_lines();
    let expected: Vec<Value> =
        ["a", "b"].iter().flat_map(|m| (0..=2).map(move |s| json!({"model": m, "seed": s}))).collect();
    assert_eq!(params(&lines), expected);
    // A row that sets a grid key is refused.
    std::fs::write(&file, "{\"model\":\"c\",\"seed\":9}\n").unwrap();
    let before = dir.state_file();
    let out = dir.run("exp-add", &["-f", "rows.jsonl", "--grid", "seed=0..2"]);
    out.fails_with(2).stderr_has("seed");
    assert_eq!(dir.state_file(), before);
}

#[test]
fn a_key_given_twice_in_grids_is_refused() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{a}"]);
    let before = dir.state_file();
    let out = dir.run("exp-add", &["--grid", "a=1", "--grid", "a=2"]);
    out.fails_with(2).stderr_has("\"a\"");
    assert_eq!(dir.state_file(), before);
}

// ---------- input sources ----------

#[test]
fn stdin_file_and_dash_all_read_json_lines() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{i}"]);
    let stdin = dir.run_stdin("exp-add", &[], "\n{\"i\":1}\n   \n\n{\"i\":2}\n\n");
    stdin.succeeds();
    let lines = stdin.json_lines();
    assert_eq!(params(&lines), [json!({"i":1}), json!({"i":2})]);
    for line in &lines {
        let keys: BTreeSet<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["name", "params", "added"]));
    }
    assert_eq!(stdin.stderr.trim().lines().count(), 1, "{stdin:?}");
    stdin.stderr_has('2');

    std::fs::write(dir.path().join("in.jsonl"), "{\"i\":3}\n\n{\"i\":1}").unwrap();
    let file = dir.run("exp-add", &["-f", "in.jsonl"]);
    let lines = file.succeeds().json_lines();
    assert_eq!(params(&lines), [json!({"i":3}), json!({"i":1})]);
    assert_eq!(lines[0]["added"], true);
    assert_eq!(lines[1]["added"], false);

    let dash = dir.run_stdin("exp-add", &["-f", "-"], "{\"i\":4}\n");
    assert_eq!(params(&dash.succeeds().json_lines()), [json!({"i":4})]);
    let long = dir.run_stdin("exp-add", &["--file", "-"], "{\"i\":5}\n");
    long.succeeds();
    assert_eq!(dir.status().len(), 5);
}

#[test]
fn empty_input_adds_nothing() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{i}"]);
    let before = dir.state_file();
    let out = dir.run_stdin("exp-add", &[], "\n\n");
    out.succeeds().no_stdout();
    assert_eq!(dir.state_file(), before);
}

#[test]
fn a_missing_file_is_exit_2() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{i}"]);
    let before = dir.state_file();
    let out = dir.run("exp-add", &["-f", "nope.jsonl"]);
    out.fails_with(2).stderr_has("nope.jsonl");
    assert_eq!(dir.state_file(), before);
}

// ---------- bad input ----------

/// Each bad call exits 2, says `needle` on stderr, prints nothing on stdout,
/// and leaves experiment.yaml byte-identical.
fn refused(dir: &Dir, args: &[&str], input: &str, needle: &str) {
    let before = dir.state_file();
    let out = dir.run_stdin("exp-add", args, input);
    out.fails_with(2);
    assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    assert!(out.stderr.contains(needle), "{args:?}: stderr should name {needle:?}: {out:?}");
    assert_eq!(dir.state_file(), before, "{args:?} changed experiment.yaml");
}

#[test]
fn bad_input_is_exit_2_naming_the_line_and_changes_nothing() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    add(&dir, &[], "{\"lr\":0}\n");
    refused(&dir, &[], "{\"lr\":1}\n\n{\"lr\":2}\n{lr: 3}\n", "line 4");
    refused(&dir, &[], "{\"lr\":1}\n{\"lr\":2\n", "line 2");
    refused(&dir, &[], "{\"lr\":1}\n[1,2]\n", "line 2");
    refused(&dir, &[], "\"lr\"\n", "line 1");
    refused(&dir, &[], "{\"lr\":1}\n42\n", "line 2");
    refused(&dir, &[], "{\"lr\":1} {\"lr\":2}\n", "line 1");
    refused(&dir, &["-f", "-"], "{\"lr\":1}\nnull\n", "line 2");
    std::fs::write(dir.path().join("bad.jsonl"), "{\"lr\":5}\n{oops}\n").unwrap();
    refused(&dir, &["-f", "bad.jsonl"], "", "line 2");
    refused(&dir, &["-f", "bad.jsonl"], "", "bad.jsonl");
    // Nothing of the valid lines before the bad one was added.
    assert_eq!(params(&dir.status()), [json!({"lr":0})]);
}

#[test]
fn malformed_grids_are_exit_2_naming_the_argument() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{n}"]);
    refused(&dir, &["--grid", "novalue"], "", "novalue");
    refused(&dir, &["--grid", "n=5..1"], "", "n=5..1");
    // A descending range of decimals is told it goes the wrong way, not
    // given a hint that is refused in turn.
    refused(&dir, &["--grid", "n=0.5..0.1"], "", "0.1..0.5");
    refused(&dir, &["--grid", "=1"], "", "=1");
    refused(&dir, &["--grid", "=1,2"], "", "=1,2");
    refused(&dir, &["--grid", "n="], "", "n=");
    refused(&dir, &["--grid", "n=1,2", "--grid", "bad"], "", "bad");
    assert!(dir.status().is_empty());
}

#[test]
fn a_config_missing_a_template_key_is_refused() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    refused(&dir, &[], "{\"lr\":1}\n{\"x\":1}\n", "line 2");
    refused(&dir, &[], "{\"x\":1}\n", "lr");
    refused(&dir, &["--grid", "x=1,2"], "", "lr");
    // A default supplies the key.
    let lines = add(&dir, &["--default", "lr=0.1"], "{\"x\":1}\n");
    assert_eq!(lines[0]["params"], json!({"lr":0.1,"x":1}));
}

#[test]
fn builtins_in_the_command_need_no_param() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{name}", "{dir}", "{worker}", "{{lit}}"]);
    add(&dir, &[], "{\"any\":1}\n");
}

#[test]
fn a_config_missing_a_naming_key_is_refused() {
    let dir = Dir::new();
    dir.init(&["--naming", "{model}-{lr}"], &["echo"]);
    refused(&dir, &[], "{\"model\":\"a\",\"lr\":1}\n{\"model\":\"b\"}\n", "line 2");
    let lines = add(&dir, &[], "{\"model\":\"a\",\"lr\":1}\n");
    assert_eq!(names(&lines), ["a-1"]);
}

// ---------- names ----------

fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path.clone());
            }
            out.insert(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    out
}

fn assert_safe(name: &str) {
    assert!(!name.is_empty());
    assert!(name.len() <= 200, "{name:?} is {} bytes", name.len());
    assert!(!name.starts_with('.'), "{name:?}");
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "{name:?}");
}

#[test]
fn uuid_names_by_default() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{i}"]);
    let lines = dir.run("exp-add", &["--grid", "i=1..3"]).succeeds().json_lines();
    let names = names(&lines);
    for name in &names {
        assert_safe(name);
        assert_eq!(name.len(), 36, "a UUID: {name}");
        assert_eq!(name.as_bytes()[14], b'4', "a UUID v4: {name}");
    }
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 3);
}

#[test]
fn hostile_names_stay_one_safe_component_inside_the_experiment() {
    let dir = Dir::new();
    dir.init(&["--naming", "{x}"], &["echo", "{x}"]);
    let before = tree(dir.path());
    let long = "y".repeat(300);
    let values = [
        "../../escape",
        "/abs/path",
        "a b c",
        ".hidden",
        long.as_str(),
        "..",
        ".",
        "",
        "ünïcødé/☃",
        "a\nb",
        "$(touch pwned)",
        "-rf",
    ];
    let input: String = values.iter().map(|v| json!({ "x": v }).to_string() + "\n").collect();
    let lines = add(&dir, &[], &input);
    assert_eq!(lines.len(), values.len());
    let names = names(&lines);
    for name in &names {
        assert_safe(name);
    }
    assert_eq!(
        names.iter().collect::<BTreeSet<_>>().len(),
        values.len(),
        "distinct configs get distinct names: {names:?}"
    );
    assert_eq!(names[2], "a_b_c");
    assert_eq!(names[4].len(), 200);
    let rows = dir.status();
    assert_eq!(rows.len(), values.len());
    for row in &rows {
        assert_safe(row["name"].as_str().unwrap());
    }
    let after = tree(dir.path());
    for path in after.difference(&before) {
        assert!(path.starts_with("exp"), "created outside exp/: {path:?}");
    }
    assert!(!dir.path().join("pwned").exists());
    assert!(!dir.path().parent().unwrap().join("escape").exists());
}

#[test]
fn name_clashes_get_distinct_names() {
    let dir = Dir::new();
    dir.init(&["--naming", "{model}"], &["echo", "{model}", "{lr}"]);
    let lines = add(
        &dir,
        &[],
        "{\"model\":\"m\",\"lr\":1}\n{\"model\":\"m\",\"lr\":2}\n{\"model\":\"m\",\"lr\":3}\n",
    );
    let first = names(&lines);
    assert_eq!(first[0], "m");
    let later = add(&dir, &[], "{\"model\":\"m\",\"lr\":4}\n{\"model\":\"m/\",\"lr\":1}\n");
    let all: Vec<String> = first.into_iter().chain(names(&later)).collect();
    for name in &all {
        assert_safe(name);
        assert!(name.starts_with('m'), "{name}");
    }
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 5, "{all:?}");
    let status: BTreeSet<String> = names(&dir.status()).into_iter().collect();
    assert_eq!(status, all.iter().cloned().collect());
    // Re-adding returns the original names.
    let again = add(&dir, &[], "{\"model\":\"m\",\"lr\":2.0}\n");
    assert_eq!(again[0]["added"], false);
    assert_eq!(again[0]["name"].as_str().unwrap(), all[1]);
}

#[test]
fn long_names_that_clash_stay_within_200_bytes() {
    let dir = Dir::new();
    dir.init(&["--naming", "{x}"], &["echo", "{i}"]);
    let x = "z".repeat(400);
    let input: String = (0..3).map(|i| json!({"x": x, "i": i}).to_string() + "\n").collect();
    let lines = add(&dir, &[], &input);
    let names = names(&lines);
    for name in &names {
        assert_safe(name);
    }
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 3);
}

// ---------- scale ----------

#[test]
fn twenty_thousand_configs_in_one_call() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{i}", "{g}"]);
    let mut input = String::new();
    for i in 0..20_000 {
        input.push_str(&format!("{{\"i\":{i},\"g\":\"{}\"}}\n", i % 7));
    }
    std::fs::write(dir.path().join("big.jsonl"), &input).unwrap();
    let out = dir.run("exp-add", &["-f", "big.jsonl"]);
    out.succeeds();
    assert_eq!(out.stdout.lines().count(), 20_000);
    out.stderr_has("20000");
    let counts = dir.run("exp-status", &["--counts", "--json"]).succeeds().json_lines();
    assert_eq!(counts, [json!({"todo":20000,"running":0,"done":0,"failed":0,"total":20000})]);
    // Adding them again adds nothing and leaves the state as it was.
    let before = dir.state_file();
    let again = dir.run("exp-add", &["-f", "big.jsonl"]);
    again.succeeds();
    assert!(again.stdout.lines().all(|l| l.ends_with("\"added\":false}")));
    assert_eq!(dir.state_file(), before);
}
