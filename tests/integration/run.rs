//! `exp-run`: the pool on real processes — statuses and exit codes, logs and
//! results, retries, selection (`--names`, `--shard`, `--limit`, `--dry-run`),
//! hostile params, timeouts, the environment, `--json` and progress output.
//!
//! Every command leaves a side effect (a line appended to `runs` in its config
//! folder) so the tests count exactly how many times each config ran.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;

/// Appended to every command: one line per run in the config's folder.
const COUNT: &str = r#"echo run >> "$EXP_CONFIG_DIR/runs""#;

/// How many times the config `name` ran (lines in its `runs` file).
fn config_runs(dir: &Dir, name: &str) -> usize {
    match std::fs::read_to_string(dir.config(name).join("runs")) {
        Ok(text) => text.lines().count(),
        Err(_) => 0,
    }
}

/// Runs per config for names `n1..=nK`.
fn runs_of(dir: &Dir, k: usize) -> Vec<usize> {
    (1..=k).map(|i| config_runs(dir, &format!("n{i}"))).collect()
}

/// Fails for n=3 and n=5, succeeds for the others; counts runs.
fn fails_3_and_5() -> String {
    format!("{COUNT}; test {{n}} -ne 3 && test {{n}} -ne 5")
}

/// Fails for n=3 and n=5 on their first run only; counts runs.
fn fails_3_and_5_once() -> String {
    format!(
        "{COUNT}; ( test {{n}} -ne 3 && test {{n}} -ne 5 ) || test $(wc -l < \"$EXP_CONFIG_DIR/runs\") -ge 2"
    )
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn mixed_statuses() -> BTreeMap<String, String> {
    map(&[("n1", "done"), ("n2", "done"), ("n3", "failed"), ("n4", "done"), ("n5", "failed"), ("n6", "done")])
}

// ---------- statuses and exit codes ----------

#[test]
fn a_mixed_sweep_exits_1_with_done_and_failed_configs() {
    let dir = Dir::new();
    sweep(&dir, &fails_3_and_5(), 6);
    let out = dir.run("exp-run", &["-j2"]);
    out.fails_with(1).no_stdout(); // no data on stdout
    assert_eq!(statuses(&dir), mixed_statuses());
    assert_eq!(runs_of(&dir, 6), [1; 6]);
    let rows = by_name(&dir);
    for (name, row) in &rows {
        assert_eq!(row["attempts"], 1, "{name}: {row}");
        if row["status"] == "failed" {
            assert_eq!(row["exit_code"], 1, "{row}");
            assert!(!row["error"].is_null(), "{row}");
        } else {
            assert_eq!(row["exit_code"], 0, "{row}");
        }
        assert!(!row["start_time"].is_null() && !row["end_time"].is_null());
    }
    assert!(!dir.exp().join("results_summary.csv").exists(), "no summary while configs failed");
}

#[test]
fn exit_code_and_killing_signal_are_kept() {
    let dir = Dir::new();
    dir.init(
        &["--naming", "{kind}"],
        &["sh", "-c", r#"if [ "$1" = code ]; then exit 7; else kill -9 $$; fi"#, "sh", "{kind}"],
    );
    dir.run("exp-add", &["--grid", "kind=code,kill"]).succeeds();
    dir.run("exp-run", &["-j2"]).fails_with(1);
    let rows = by_name(&dir);
    let code = &rows["code"];
    assert_eq!(code["status"], "failed");
    assert_eq!(code["exit_code"], 7);
    assert!(code["error"].as_str().unwrap().contains('7'), "{code}");
    let kill = &rows["kill"];
    assert_eq!(kill["status"], "failed");
    assert_eq!(kill["signal"], "SIGKILL", "{kill}");
    assert!(kill["exit_code"].is_null(), "{kill}");
    assert!(kill["error"].as_str().unwrap().contains("SIGKILL"), "{kill}");
}

// ---------- logs and results ----------

#[test]
fn logs_and_results_are_captured_and_summarised() {
    let dir = Dir::new();
    // `file` writes its result to $EXP_RESULT; `stdout` prints it, then more.
    // (Braces are doubled: argv elements are templates too.)
    let script = r#"echo "out-$1"; echo "err-$1" >&2
if [ "$1" = file ]; then
  printf '{{"score": 1, "how": "file"}}\n' > "$EXP_RESULT"; echo '{{"decoy": true}}'
else
  echo '{{"score": 0}}'; echo '{{"score": 2, "how": "stdout"}}'; echo 'bye'
fi"#;
    dir.init(&["--naming", "{m}"], &["sh", "-c", script, "sh", "{m}"]);
    dir.run("exp-add", &["--grid", "m=file,stdout"]).succeeds();
    dir.run("exp-run", &[]).succeeds();
    for m in ["file", "stdout"] {
        let stdout = dir.config_file(m, "stdout.log");
        let stderr = dir.config_file(m, "stderr.log");
        assert!(stdout.starts_with(&format!("out-{m}\n")), "{stdout:?}");
        assert_eq!(stderr, format!("err-{m}\n"));
    }
    let result = |m: &str| -> Value { serde_json::from_str(&dir.config_file(m, "result.json")).unwrap() };
    assert_eq!(result("file"), json!({"score": 1, "how": "file"}));
    assert_eq!(result("stdout"), json!({"score": 2, "how": "stdout"}));

    let csv = dir.read("exp/results_summary.csv");
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "name");
    for column in ["m", "score", "how"] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let col = |c: &str| header.iter().position(|h| *h == c).unwrap();
    for row in rows {
        let cells: Vec<&str> = row.split(',').collect();
        let expected = if cells[0] == "file" { ["file", "1", "file"] } else { ["stdout", "2", "stdout"] };
        assert_eq!([cells[col("m")], cells[col("score")], cells[col("how")]], expected, "{csv}");
    }
}

// ---------- retries ----------

#[test]
fn retries_run_until_success_and_keep_earlier_logs() {
    let dir = Dir::new();
    let script = format!(r#"{COUNT}; echo "attempt $EXP_ATTEMPT"; test "$EXP_ATTEMPT" -ge 3"#);
    sweep(&dir, &script, 1);
    dir.run("exp-run", &["--retries", "2"]).succeeds();
    let row = &by_name(&dir)["n1"];
    assert_eq!(row["status"], "done", "{row}");
    assert_eq!(row["attempts"], 3, "{row}");
    assert_eq!(config_runs(&dir, "n1"), 3);
    assert_eq!(dir.read("exp/configs/n1/stdout.log"), "attempt 3\n");
    assert_eq!(dir.read("exp/configs/n1/stdout.1.log"), "attempt 1\n");
    assert_eq!(dir.read("exp/configs/n1/stdout.2.log"), "attempt 2\n");
    assert!(dir.exp().join("configs/n1/stderr.1.log").exists());
    assert!(dir.exp().join("configs/n1/stderr.2.log").exists());
    assert!(!dir.exp().join("configs/n1/stdout.3.log").exists());
}

#[test]
fn retries_1_on_an_always_failing_command_runs_it_twice() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; echo try $EXP_ATTEMPT; exit 3"), 2);
    let out = dir.run("exp-run", &["--retries", "1", "-j2", "--json"]);
    out.fails_with(1);
    assert_eq!(runs_of(&dir, 2), [2, 2]);
    for (name, row) in by_name(&dir) {
        assert_eq!(row["status"], "failed", "{name}");
        assert_eq!(row["attempts"], 2, "{name}");
        assert_eq!(row["exit_code"], 3, "{name}");
        assert_eq!(dir.config_file(&name, "stdout.1.log"), "try 1\n");
        assert_eq!(dir.config_file(&name, "stdout.log"), "try 2\n");
    }
    let events = out.json_lines();
    let ends: Vec<&Value> = events.iter().filter(|e| e["event"] == "end").collect();
    assert_eq!(ends.len(), 4, "{events:?}");
    for name in ["n1", "n2"] {
        let attempts: BTreeSet<u64> =
            ends.iter().filter(|e| e["name"] == name).map(|e| e["attempt"].as_u64().unwrap()).collect();
        assert_eq!(attempts, BTreeSet::from([1, 2]));
    }
}

#[test]
fn retry_failed_reruns_exactly_the_failed_configs() {
    let dir = Dir::new();
    sweep(&dir, &fails_3_and_5_once(), 6);
    dir.run("exp-run", &["-j2"]).fails_with(1);
    assert_eq!(statuses(&dir), mixed_statuses());

    // A plain second run runs nothing, says failed configs remain, and
    // exits 0: nothing it ran failed.
    let second = dir.run("exp-run", &["-j2"]).succeeds().stderr.clone();
    assert!(second.contains("2 failed and 0 todo in the selection"), "{second}");
    assert_eq!(runs_of(&dir, 6), [1; 6]);
    assert_eq!(statuses(&dir), mixed_statuses());

    dir.run("exp-run", &["-j2", "--retry-failed"]).succeeds();
    assert_eq!(runs_of(&dir, 6), [1, 1, 2, 1, 2, 1]);
    assert!(statuses(&dir).values().all(|s| s == "done"));
    let rows = by_name(&dir);
    assert_eq!(rows["n3"]["attempts"], 2);
    assert_eq!(rows["n1"]["attempts"], 1);
    assert!(dir.exp().join("results_summary.csv").exists(), "all done now");

    // Nothing left: another --retry-failed runs nothing.
    dir.run("exp-run", &["--retry-failed"]).succeeds();
    assert_eq!(runs_of(&dir, 6), [1, 1, 2, 1, 2, 1]);
}

// ---------- --names ----------

#[test]
fn failed_names_piped_from_exp_status_are_rerun() {
    let dir = Dir::new();
    sweep(&dir, &fails_3_and_5_once(), 6);
    dir.run("exp-run", &["-j2"]).fails_with(1);

    let mut producer = dir
        .cmd("exp-status")
        .args(["exp", "--status", "failed", "--names"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn exp-status");
    let mut consumer = dir.cmd("exp-run");
    consumer.args(["exp", "--names", "-", "-j2"]).stdin(producer.stdout.take().expect("piped"));
    let out = Out::of(consumer.output().expect("spawn exp-run"));
    assert!(producer.wait().unwrap().success(), "exp-status failed");
    out.succeeds();
    assert_eq!(runs_of(&dir, 6), [1, 1, 2, 1, 2, 1]);
    assert!(statuses(&dir).values().all(|s| s == "done"));
}

#[test]
fn names_file_of_json_lines_runs_only_those() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 4);
    let lines: Vec<String> = dir
        .run("exp-status", &["--json"])
        .succeeds()
        .stdout
        .lines()
        .filter(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["name"] == "n1" || v["name"] == "n3"
        })
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2);
    std::fs::write(dir.path().join("pick.jsonl"), lines.join("\n") + "\n").unwrap();
    dir.run("exp-run", &["--names", "pick.jsonl"]).succeeds();
    assert_eq!(runs_of(&dir, 4), [1, 0, 1, 0]);
    assert_eq!(statuses(&dir), map(&[("n1", "done"), ("n2", "todo"), ("n3", "done"), ("n4", "todo")]));
    // Listed done configs are skipped.
    dir.run("exp-run", &["--names", "pick.jsonl"]).succeeds();
    assert_eq!(runs_of(&dir, 4), [1, 0, 1, 0]);
}

#[test]
fn an_unknown_name_is_a_usage_error_and_runs_nothing() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 2);
    let before = std::fs::read(dir.exp().join("experiment.yaml")).unwrap();
    let out = dir.run_stdin("exp-run", &["--names", "-"], "n1\nnope\n");
    out.fails_with(2).stderr_has("nope");
    assert_eq!(runs_of(&dir, 2), [0, 0]);
    assert!(statuses(&dir).values().all(|s| s == "todo"));
    assert_eq!(std::fs::read(dir.exp().join("experiment.yaml")).unwrap(), before);
}

// ---------- --shard, --limit, --dry-run ----------

#[test]
fn shards_split_the_configs_disjointly_and_completely() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 12);
    let all: BTreeSet<String> = (1..=12).map(|i| format!("n{i}")).collect();
    let mut seen = BTreeSet::new();
    for i in 0..3u64 {
        let shard = format!("{i}/3");
        let before: BTreeSet<String> =
            statuses(&dir).into_iter().filter(|(_, s)| s == "done").map(|(n, _)| n).collect();
        dir.run("exp-run", &["--shard", &shard, "-j2"]).succeeds();
        let after: BTreeSet<String> =
            statuses(&dir).into_iter().filter(|(_, s)| s == "done").map(|(n, _)| n).collect();
        let this: BTreeSet<String> = after.difference(&before).cloned().collect();
        let expected: BTreeSet<String> = all.iter().filter(|n| shard_of(n, 3) == i).cloned().collect();
        assert_eq!(this, expected, "shard {shard}");
        assert!(seen.is_disjoint(&this));
        seen.extend(this);
    }
    assert_eq!(seen, all);
    assert_eq!(runs_of(&dir, 12), [1; 12]);
}

#[test]
fn exit_status_counts_only_configs_this_run_ran() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; test {{n}} -ne 1"), 6);
    let with_n1 = shard_of("n1", 2);
    let other = 1 - with_n1;
    dir.run("exp-run", &["--shard", &format!("{other}/2")]).succeeds();
    dir.run("exp-run", &["--shard", &format!("{with_n1}/2")]).fails_with(1);
    // n1 failed in an earlier run: a run that ran nothing failing exits 0
    // (a Slurm task must not be marked FAILED for another task's config);
    // exp-status --check answers for the whole experiment.
    dir.run("exp-run", &["--shard", &format!("{other}/2")]).succeeds();
    dir.run_stdin("exp-run", &["--names", "-"], "n2\n").succeeds();
    dir.run("exp-run", &[]).succeeds();
    dir.run("exp-status", &["--check"]).fails_with(1);
    assert_eq!(runs_of(&dir, 6), [1; 6]);
}

#[test]
fn limit_starts_exactly_n_configs() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 5);
    dir.run("exp-run", &["--limit", "2", "-j2"]).succeeds();
    assert_eq!(runs_of(&dir, 5).iter().sum::<usize>(), 2);
    let counts = statuses(&dir);
    assert_eq!(counts.values().filter(|s| *s == "done").count(), 2);
    assert_eq!(counts.values().filter(|s| *s == "todo").count(), 3);
    dir.run("exp-run", &["--limit", "1"]).succeeds();
    assert_eq!(runs_of(&dir, 5).iter().sum::<usize>(), 3);
    assert_eq!(runs_of(&dir, 5).iter().max(), Some(&1));
}

#[test]
fn dry_run_prints_the_commands_and_runs_nothing() {
    let dir = Dir::new();
    dir.init(&["--naming", "n{n}"], &["sh", "-c", r#"echo run >> "$EXP_CONFIG_DIR/runs""#, "sh", "{n}"]);
    dir.run("exp-add", &["--grid", "n=1..3"]).succeeds();
    let before = std::fs::read(dir.exp().join("experiment.yaml")).unwrap();
    let out = dir.run("exp-run", &["--dry-run", "-j2"]);
    out.succeeds();
    // A line `NAME: ARGV` per config, its variables indented below.
    let lines: Vec<&str> = out.stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(lines.len(), 3, "{out:?}");
    for n in 1..=3 {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("n{n}: sh -c ")) && l.ends_with(&format!(" sh {n}"))),
            "n={n}: {lines:?}"
        );
    }
    assert_eq!(runs_of(&dir, 3), [0, 0, 0]);
    assert!(statuses(&dir).values().all(|s| s == "todo"));
    assert_eq!(std::fs::read(dir.exp().join("experiment.yaml")).unwrap(), before);
    // --limit applies to the listing too.
    let out = dir.run("exp-run", &["--dry-run", "--limit", "1"]);
    assert_eq!(out.succeeds().stdout.lines().filter(|l| !l.starts_with(' ')).count(), 1);
    assert_eq!(runs_of(&dir, 3), [0, 0, 0]);
}

// ---------- hostile params ----------

const HOSTILE: [&str; 8] = [
    "$(touch pwned)",
    "`touch pwned2`",
    "; touch pwned3",
    "'quoted' \"double\"",
    "a b",
    "*",
    "x && touch pwned4 #",
    "-n",
];

fn hostile_values_arrive_verbatim(dir: &Dir) {
    let input: String = HOSTILE.iter().map(|v| json!({ "v": v }).to_string() + "\n").collect();
    let added = dir.run_stdin("exp-add", &[], &input).succeeds().json_lines();
    assert_eq!(added.len(), HOSTILE.len());
    dir.run("exp-run", &["-j2"]).succeeds();
    for line in &added {
        let name = line["name"].as_str().unwrap();
        let value = line["params"]["v"].as_str().unwrap();
        let arg = std::fs::read_to_string(dir.config(name).join("arg")).unwrap();
        assert_eq!(arg, format!("{value}\n"), "value {value:?}");
    }
    let pwned: Vec<PathBuf> = files_under(dir.path())
        .into_iter()
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with("pwned"))
        .collect();
    assert!(pwned.is_empty(), "injected: {pwned:?}");
}

#[test]
fn hostile_values_in_the_argv_form_arrive_verbatim() {
    let dir = Dir::new();
    dir.init(&[], &["sh", "-c", r#"printf '%s\n' "$1" > "$EXP_CONFIG_DIR/arg""#, "sh", "{v}"]);
    hostile_values_arrive_verbatim(&dir);
}

#[test]
fn hostile_values_in_the_shell_form_arrive_verbatim() {
    let dir = Dir::new();
    dir.init(&["--shell", r#"printf '%s\n' {v} > "$EXP_CONFIG_DIR/arg""#], &[]);
    hostile_values_arrive_verbatim(&dir);
}

// ---------- timeout ----------

#[test]
fn timeout_kills_the_whole_process_group() {
    let dir = Dir::new();
    let script = r#"sleep 1000 & echo $! > "$EXP_CONFIG_DIR/bg.pid"
echo $$ > "$EXP_CONFIG_DIR/fg.pid"
exec sleep 1000"#;
    dir.init(&["--naming", "n{n}"], &["sh", "-c", script, "sh", "{n}"]);
    dir.run("exp-add", &["--grid", "n=1"]).succeeds();
    // 2s rather than 1s: the pid files must be written before the kill even
    // on a busy machine.
    let out = dir.run("exp-run", &["--timeout", "2s", "--kill-after", "2s"]);
    out.fails_with(1);
    let row = &by_name(&dir)["n1"];
    assert_eq!(row["status"], "failed", "{row}");
    assert!(row["error"].as_str().unwrap().contains("timeout"), "{row}");
    let pids = [pid_in(&dir, "n1", "bg.pid"), pid_in(&dir, "n1", "fg.pid")];
    let _guard = KillOnDrop::Sleeps(pids.to_vec());
    for pid in pids {
        wait_for(&format!("process {pid} to be gone"), || !alive(pid));
    }
}

/// A pid a command wrote to a file in its config folder.
fn pid_in(dir: &Dir, name: &str, file: &str) -> i32 {
    dir.config_file(name, file).trim().parse().unwrap()
}

#[test]
fn timeout_kills_a_group_member_that_ignores_sigterm() {
    let dir = Dir::new();
    // The background sleep ignores SIGTERM (SIG_IGN survives exec); only the
    // SIGKILL after --kill-after can end it.
    let script = r#"sh -c 'trap "" TERM; exec sleep 1000' & echo $! > "$EXP_CONFIG_DIR/bg.pid"
exec sleep 1000"#;
    dir.init(&["--naming", "n{n}"], &["sh", "-c", script, "sh", "{n}"]);
    dir.run("exp-add", &["--grid", "n=1"]).succeeds();
    let out = dir.run("exp-run", &["--timeout", "1", "--kill-after", "1s"]);
    out.fails_with(1);
    let row = &by_name(&dir)["n1"];
    assert_eq!(row["status"], "failed", "{row}");
    assert!(row["error"].as_str().unwrap().contains("timeout"), "{row}");
    let pid = pid_in(&dir, "n1", "bg.pid");
    let _guard = KillOnDrop::Sleeps(vec![pid]);
    wait_for(&format!("process {pid} (ignores SIGTERM) to be gone"), || !alive(pid));
}

#[test]
fn a_command_killed_by_sigterm_on_its_own_is_failed_not_interrupted() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; test {{n}} -ne 1 || kill -TERM $$"), 2);
    dir.run("exp-run", &["-j2"]).fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["n1"]["status"], "failed", "{}", rows["n1"]);
    assert_eq!(rows["n1"]["signal"], "SIGTERM", "{}", rows["n1"]);
    assert!(rows["n1"]["interruption_time"].is_null());
    assert_eq!(rows["n2"]["status"], "done");
    assert_eq!(runs_of(&dir, 2), [1, 1]);
}

#[test]
fn a_missing_program_is_failed_with_a_clear_error() {
    let dir = Dir::new();
    dir.init(&["--naming", "n{n}"], &["./no-such-program", "{n}"]);
    dir.run("exp-add", &["--grid", "n=1..2"]).succeeds();
    let out = dir.run("exp-run", &["-j2", "--retries", "1"]);
    out.fails_with(1);
    for (name, row) in by_name(&dir) {
        assert_eq!(row["status"], "failed", "{name}");
        assert_eq!(row["attempts"], 2, "{name}");
        assert!(row["error"].as_str().unwrap().contains("no-such-program"), "{row}");
    }
    out.stderr_has("no-such-program");
}

// ---------- environment ----------

/// The `env -0` dump of a command: NAME=VALUE entries, NUL-terminated.
fn env_of(dir: &Dir, name: &str) -> BTreeMap<String, String> {
    std::fs::read_to_string(dir.config(name).join("env"))
        .unwrap()
        .split('\0')
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_command_gets_its_environment_and_working_directory() {
    let dir = Dir::new();
    dir.init(
        &["--naming", "c{i}", "--env", "FROM_INIT=hello {i}"],
        &["sh", "-c", r#"env -0 > "$EXP_CONFIG_DIR/env"; pwd -P > "$EXP_CONFIG_DIR/pwd""#],
    );
    let input = [
        json!({"i": 1, "learning-rate": 0.1, "model": "m x", "nested": {"a": 1}}),
        json!({"i": 2, "learning-rate": 0.2, "model": "y", "nested": {"a": 2}}),
    ]
    .iter()
    .map(|v| v.to_string() + "\n")
    .collect::<String>();
    dir.run_stdin("exp-add", &[], &input).succeeds();
    dir.run("exp-run", &["-j2", "--env", "GPU={worker}", "--env", "TAG=t-{name}"]).succeeds();
    let root = dir.path().canonicalize().unwrap();
    let rows = by_name(&dir);
    for (name, row) in &rows {
        let env = env_of(&dir, name);
        let config = dir.config(name).canonicalize().unwrap();
        let path = |key: &str| PathBuf::from(&env[key]).canonicalize().unwrap();
        assert_eq!(env["EXP_NAME"], *name);
        assert_eq!(path("EXP_CONFIG_DIR"), config);
        let params: Value = serde_json::from_str(&env["EXP_PARAMS"]).unwrap();
        assert_eq!(params, row["params"], "EXP_PARAMS");
        let i = row["params"]["i"].as_i64().unwrap();
        assert_eq!(env["EXP_PARAM_I"], i.to_string());
        assert_eq!(env["EXP_PARAM_LEARNING_RATE"], row["params"]["learning-rate"].to_string());
        assert_eq!(env["EXP_PARAM_MODEL"], row["params"]["model"].as_str().unwrap(), "strings raw");
        assert!(!env.contains_key("EXP_PARAM_NESTED"), "only scalars");
        assert_eq!(
            PathBuf::from(&env["EXP_RESULT"]),
            PathBuf::from(&env["EXP_CONFIG_DIR"]).join("result.json")
        );
        assert!(path("EXP_CACHE_DIR").is_dir());
        assert!(path("EXP_CACHE_DIR").starts_with(&config));
        assert_eq!(env["EXP_CACHE_MODE"], "record");
        assert_eq!(env["EXP_ATTEMPT"], "1");
        let worker: usize = env["EXP_WORKER"].parse().unwrap();
        assert!(worker < 2, "EXP_WORKER={worker}");
        assert_eq!(env["GPU"], env["EXP_WORKER"], "--env GPU={{worker}}");
        assert_eq!(env["TAG"], format!("t-{name}"));
        assert_eq!(env["FROM_INIT"], format!("hello {i}"));
        let status_file = PathBuf::from(&env["EXP_STATUS_FILE"]);
        assert_eq!(
            status_file.parent().unwrap().canonicalize().unwrap(),
            config,
            "EXP_STATUS_FILE in the config folder"
        );
        let pwd = std::fs::read_to_string(dir.config(name).join("pwd")).unwrap();
        assert_eq!(PathBuf::from(pwd.trim_end()), root, "working directory");
    }

    // --no-cache: EXP_CACHE_MODE=off.
    dir.run_stdin("exp-add", &[], "{\"i\":3,\"learning-rate\":0.3,\"model\":\"z\",\"nested\":{}}\n")
        .succeeds();
    dir.run("exp-run", &["--no-cache"]).succeeds();
    assert_eq!(env_of(&dir, "c3")["EXP_CACHE_MODE"], "off");
}

// ---------- output ----------

#[test]
fn json_events_are_the_only_stdout() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; echo noise; echo noise >&2; test {{n}} -ne 2"), 3);
    let out = dir.run("exp-run", &["--json", "-j2"]);
    out.fails_with(1);
    let events = out.json_lines();
    assert_eq!(events.len(), 6, "{}", out.stdout);
    for name in ["n1", "n2", "n3"] {
        let mine: Vec<&Value> = events.iter().filter(|e| e["name"] == name).collect();
        assert_eq!(mine.len(), 2, "{name}: {mine:?}");
        let start = mine.iter().find(|e| e["event"] == "start").expect("start");
        let end = mine.iter().find(|e| e["event"] == "end").expect("end");
        assert_eq!(start["attempt"], 1);
        assert!(start["worker"].as_u64().unwrap() < 2);
        assert_eq!(end["attempt"], 1);
        assert!(end["worker"].as_u64().unwrap() < 2);
        assert!(end["duration"].as_f64().unwrap() >= 0.0, "{end}");
        let (status, code) = if name == "n2" { ("failed", 1) } else { ("done", 0) };
        assert_eq!(end["status"], status, "{end}");
        assert_eq!(end["exit_code"], code, "{end}");
    }
    assert!(events.iter().all(|e| e["event"] == "start" || e["event"] == "end"));
    assert!(!out.stderr.contains('\x1b'), "{:?}", out.stderr);
}

#[test]
fn stderr_off_a_terminal_has_one_plain_line_per_config() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; test {{n}} -ne 2"), 3);
    let out = dir.run("exp-run", &["-j2"]);
    out.fails_with(1).no_stdout();
    assert!(!out.stderr.contains('\x1b'), "escape codes: {:?}", out.stderr);
    for name in ["n1", "n2", "n3"] {
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.split(|c: char| !c.is_alphanumeric()).any(|w| w == name))
            .collect();
        assert_eq!(lines.len(), 1, "{name}: {:?}", out.stderr);
    }
    // One line per finished config, plus the closing line.
    assert_eq!(out.stderr.lines().count(), 4, "{:?}", out.stderr);
}

#[test]
fn progress_never_prints_only_the_closing_line_and_q_nothing() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 3);
    let out = dir.run("exp-run", &["--progress", "never", "--limit", "2"]);
    out.succeeds().no_stdout();
    assert_eq!(out.stderr.lines().count(), 1, "{:?}", out.stderr);
    out.stderr_lacks('\x1b');
    let out = dir.run("exp-run", &["--progress", "never", "-q"]);
    out.succeeds();
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr, "");
    assert_eq!(runs_of(&dir, 3), [1, 1, 1]);
}

// ---------- resumption ----------

#[test]
fn a_config_added_later_is_picked_up_and_done_ones_never_rerun() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 2);
    dir.run("exp-run", &[]).succeeds();
    assert_eq!(runs_of(&dir, 2), [1, 1]);
    dir.run("exp-add", &["--grid", "n=3"]).succeeds();
    dir.run("exp-run", &["-j2"]).succeeds();
    assert_eq!(runs_of(&dir, 3), [1, 1, 1]);
    assert!(statuses(&dir).values().all(|s| s == "done"));
    // Nothing left: zero side effects.
    let out = dir.run("exp-run", &["-j2"]);
    out.succeeds();
    assert_eq!(runs_of(&dir, 3), [1, 1, 1]);
    let csv = dir.read("exp/results_summary.csv");
    assert_eq!(csv.lines().count(), 4, "header and 3 rows: {csv}");
}

#[test]
fn jobs_0_uses_all_cores() {
    let dir = Dir::new();
    sweep(&dir, &format!("{COUNT}; true {{n}}"), 4);
    let out = dir.run("exp-run", &["-j", "0", "--json"]);
    out.succeeds();
    assert_eq!(runs_of(&dir, 4), [1; 4]);
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    for event in out.json_lines() {
        assert!(event["worker"].as_u64().unwrap() < cores, "{event}");
    }
    assert!(statuses(&dir).values().all(|s| s == "done"));
}

/// The names in a folder of the experiment (none if it is not there).
fn names_in(dir: &Dir, folder: &str) -> Vec<String> {
    match std::fs::read_dir(dir.exp().join(folder)) {
        Ok(entries) => entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

/// The config folders made ahead (`configs/.skeleton-RUNNER.N`) now.
fn skeletons(dir: &Dir) -> Vec<String> {
    names_in(dir, "configs").into_iter().filter(|name| name.starts_with(".skeleton-")).collect()
}

/// The ids of the runners registered now.
fn registered(dir: &Dir) -> Vec<String> {
    std::fs::read_dir(dir.exp().join(".exp/runners"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().strip_suffix(".json").map(str::to_string))
        .collect()
}

#[test]
fn folders_made_ahead_are_used_and_none_is_left_by_a_run_or_a_killed_runner() {
    let dir = Dir::new();
    gated_experiment(&dir, 4, "");
    let mut first = Bg::run(&dir, &["-j", "1", "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    let ids = registered(&dir);
    assert_eq!(ids.len(), 1);
    let first_made = format!(".skeleton-{}.", ids[0]);
    wait_for("folders made ahead", || skeletons(&dir).iter().any(|s| s.starts_with(&first_made)));
    assert_eq!(names_in(&dir, ".exp/skeletons"), ids, "the runner's mark");
    // Another runner leaves a live runner's folders alone.
    let second = Bg::run(&dir, &["-j", "1", "--limit", "1", "--progress", "never"]);
    wait_running(&dir, &["c1"]);
    assert!(skeletons(&dir).iter().any(|s| s.starts_with(&first_made)), "{:?}", skeletons(&dir));
    // A runner killed with its watchdog leaves its folders; the next takes them away.
    kill_runner_and_watchdog(&mut first);
    release(&dir);
    second.finish().succeeds();
    dir.run("exp-run", &["-j", "2", "--progress", "never", "-q"]).succeeds();
    assert_eq!(skeletons(&dir), Vec::<String>::new());
    assert_eq!(names_in(&dir, ".exp/skeletons"), Vec::<String>::new(), "no mark left");
    for (name, row) in by_name(&dir) {
        assert_eq!(row["status"], "done", "{name}");
        let folder = dir.exp().join("configs").join(&name);
        for file in ["params.json", "command.json", "stdout.log", "stderr.log", "provenance.json", "cache"] {
            assert!(folder.join(file).exists(), "{name}: {file}");
        }
        let params: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("params.json")).unwrap()).unwrap();
        assert_eq!(params["i"], row["params"]["i"], "{name}: its own params");
    }
}
