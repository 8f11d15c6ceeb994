//! Several runners on one experiment, `--exclusive`, and the other tools
//! while runners work.

use crate::harness::*;
use serde_json::Value;
use std::collections::BTreeSet;

/// `n` configs (UUID names) whose command appends its name to `TMP/runs.txt`.
fn logging_experiment(dir: &Dir, n: usize) -> BTreeSet<String> {
    dir.init(&["--shell", "echo {name} >> runs.txt"], &[]);
    let grid = format!("i=1..{n}");
    names(&run_bounded(dir, "exp-add", &["--grid", &grid]).succeeds().json_lines()).into_iter().collect()
}

fn runners_share_the_work(runners: usize) {
    let dir = Dir::new();
    let names = logging_experiment(&dir, 200);
    assert_eq!(names.len(), 200);
    let pool: Vec<Bg> = (0..runners).map(|_| Bg::run(&dir, &["-j2", "--progress", "never"])).collect();
    for runner in pool {
        runner.finish().succeeds();
    }
    let text = dir.read("runs.txt");
    assert_eq!(text.lines().count(), 200, "every config started once");
    let ran: BTreeSet<String> = text.lines().map(str::to_string).collect();
    assert_eq!(ran, names, "200 unique");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done"), names);
    let counts = counts(&dir, &[]);
    assert_eq!(counts["done"], 200, "{counts}");
    assert!(dir.exp().join("results_summary.csv").is_file(), "all done: the summary is written");
}

#[test]
fn two_runners_run_each_config_exactly_once() {
    runners_share_the_work(2);
}

#[test]
fn four_runners_run_each_config_exactly_once() {
    runners_share_the_work(4);
}

/// Gated configs `c0..` whose command logs its name to `TMP/runs.txt`.
fn logged_gated(dir: &Dir, n: usize) {
    gated_experiment(dir, n, r#"echo "$EXP_NAME" >> runs.txt"#);
}

#[test]
fn exclusive_exits_4_while_another_runner_is_active() {
    let dir = Dir::new();
    logged_gated(&dir, 2);
    let first = Bg::run(&dir, &["-j1", "--limit", "1", "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    let busy = run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]);
    busy.fails_with(4);
    assert!(!busy.stderr.is_empty(), "says why: {busy:?}");
    busy.no_stdout();
    // It started nothing.
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running");
    assert_eq!(rows["c1"]["status"], "todo");
    assert!(rows["c1"]["start_time"].is_null(), "{rows:#?}");
    assert_eq!(runs(&dir).keys().cloned().collect::<Vec<_>>(), ["c0"]);
    // Once the first runner is gone, --exclusive runs.
    release(&dir);
    first.finish().succeeds();
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert!(runs(&dir).values().all(|&n| n == 1), "{:?}", runs(&dir));
}

/// The README's cron line, fired twice with the first still at work: the
/// second leaves at once with exit 4 (saying why), the first finishes
/// everything, each config once.
#[test]
fn the_cron_line_fired_twice_overlapping_runs_each_config_once() {
    let dir = Dir::new();
    logged_gated(&dir, 3);
    let cron = ["--exclusive", "--progress", "never"];
    let first = Bg::run(&dir, &cron);
    wait_running(&dir, &["c0"]);
    let second = run_bounded(&dir, "exp-run", &cron);
    second.fails_with(4).stderr_has("another runner is active");
    release(&dir);
    first.finish().succeeds();
    assert_eq!(with_status(&by_name(&dir), "done").len(), 3);
    assert!(runs(&dir).values().all(|&n| n == 1), "{:?}", runs(&dir));
    // The next tick finds nothing to do, quietly.
    let idle = run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never", "-q"]);
    idle.succeeds();
    assert!(idle.stderr.is_empty() && idle.stdout.is_empty(), "{idle:?}");
}

#[test]
fn a_config_added_while_a_runner_works_is_run_by_it() {
    let dir = Dir::new();
    logged_gated(&dir, 1);
    let runner = Bg::run(&dir, &["-j1", "--json", "--progress", "never"]);
    wait_running(&dir, &["c0"]);
    let added = dir.run_stdin("exp-add", &[], "{\"i\":1}\n").succeeds().json_lines();
    assert_eq!(added[0]["name"], "c1");
    assert_eq!(added[0]["added"], true);
    release(&dir);
    let out = runner.finish();
    out.succeeds();
    let started: BTreeSet<String> = out
        .json_lines()
        .iter()
        .filter(|e| e["event"] == "start")
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(started, ["c0", "c1"].map(String::from).into(), "the same runner ran the new config: {out:?}");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert!(runs(&dir).values().all(|&n| n == 1), "{:?}", runs(&dir));
}

#[test]
fn status_and_add_stay_consistent_while_a_runner_works() {
    let dir = Dir::new();
    // c0 waits for TMP/release, so the runner cannot finish before we say;
    // the others exit at once, so statuses change all the time.
    c0_gated_experiment(&dir, 100);
    let runner = Bg::run(&dir, &["-j2", "--progress", "never"]);
    let mut total = 100;
    let mut seen_running = false;
    for k in 0..20 {
        let line = format!("{{\"i\":{}}}\n", 1000 + k);
        let added = dir.run_stdin("exp-add", &[], &line).succeeds().json_lines();
        assert_eq!(added[0]["added"], true, "{added:?}");
        total += 1;
        let counts = counts(&dir, &[]);
        assert_eq!(counts["total"], total, "{counts}");
        seen_running |= counts["running"].as_u64().unwrap() > 0;
        let rows = dir.status();
        assert_eq!(rows.len() as u64, total);
    }
    // Everything but c0 gets done by the one runner, the new configs too.
    wait_for("all but c0 done", || {
        let counts = counts(&dir, &[]);
        assert_eq!(counts["total"], total, "{counts}");
        seen_running |= counts["running"].as_u64().unwrap() > 0;
        counts["done"] == total - 1
    });
    assert!(seen_running, "c0 was seen running");
    release(&dir);
    runner.finish().succeeds();
    let counts = counts(&dir, &[]);
    assert_eq!(counts["done"], total, "{counts}");
    let runs = runs(&dir);
    assert_eq!(runs.len() as u64, total, "{runs:?}");
    assert!(runs.values().all(|&n| n == 1), "each ran once: {runs:?}");
}

#[test]
fn exclusive_is_not_blocked_by_a_dead_runner() {
    // A cron line after a crash: the SIGKILLed runner's registration is left
    // behind, but its pid is gone, so it is not active.
    let dir = Dir::new();
    logged_gated(&dir, 2);
    let mut first = Bg::run(&dir, &["-j1", "--progress", "never"]);
    // The claim is written before the command starts: wait for the command.
    wait_for("c0's command to start", || runs(&dir).get("c0") == Some(&1));
    first.signal(nix::sys::signal::Signal::SIGKILL);
    first.wait_exit();
    drop(first);
    release(&dir);
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 2, "c0 was interrupted, then run again");
    assert_eq!(runs(&dir)["c1"], 1);
}

/// Make c0 `running` under the claim of a runner on another host, whose
/// heartbeat is `age` old; its registration file, whose mtime is that beat.
fn claim_from_another_host(dir: &Dir, age: std::time::Duration) -> std::path::PathBuf {
    let internal = dir.exp().join(".exp");
    let id = "otherhost-4242-abcdef01";
    let registration = internal.join(format!("runners/{id}.json"));
    std::fs::create_dir_all(registration.parent().unwrap()).unwrap();
    let info = serde_json::json!({"id": id, "host": "otherhost", "pid": 4242, "started": "2026-01-01T00:00:00+00:00"});
    std::fs::write(&registration, info.to_string()).unwrap();
    let beat = std::time::SystemTime::now() - age;
    std::fs::File::options().write(true).open(&registration).unwrap().set_modified(beat).unwrap();
    let event = serde_json::json!({"name": "c0", "config": {
        "params": {"i": 0}, "status": "running", "start_time": "2026-01-01T00:00:00+00:00",
        "end_time": null, "attempts": 1,
        "runner": {"id": id, "host": "otherhost", "pid": 4242}}});
    let journal = internal.join("journal.jsonl");
    let mut text = std::fs::read_to_string(&journal).expect("a journal with its header");
    assert!(text.ends_with('\n'), "{text}");
    // As exp writes a line: its CRC-32C last, over the bytes before it.
    let line = event.to_string();
    let body = &line[..line.len() - 1];
    text.push_str(&format!("{body},\"crc\":\"{:08x}\"}}\n", crc32c::crc32c(body.as_bytes())));
    std::fs::write(&journal, text).unwrap();
    registration
}

#[test]
fn a_claim_from_another_host_is_kept_while_its_heartbeat_is_fresh() {
    let dir = Dir::new();
    logged_gated(&dir, 2);
    let registration = claim_from_another_host(&dir, std::time::Duration::from_secs(5));
    assert_eq!(by_name(&dir)["c0"]["status"], "running");
    // That runner is active: --exclusive refuses.
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).fails_with(4);
    // Another runner leaves c0 alone and runs c1; out of work, it waits
    // for that runner to beat once more (it lives), which it does.
    release(&dir);
    let runner = Bg::run(&dir, &["--progress", "never"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let beat = std::time::SystemTime::now();
    std::fs::File::options().write(true).open(&registration).unwrap().set_modified(beat).unwrap();
    runner.finish().succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running", "{rows:#?}");
    assert_eq!(rows["c1"]["status"], "done", "{rows:#?}");
    assert!(!runs(&dir).contains_key("c0"), "{:?}", runs(&dir));
    // With a shorter --stale-after, that heartbeat is soon too old: back to todo.
    let mut c0 = Value::Null;
    wait_for("c0 recovered with --stale-after 1s", || {
        let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "1s"]);
        c0 = out.succeeds().row("c0");
        c0["status"] == "todo"
    });
    assert!(c0["interruption_time"].is_string(), "{c0:#}");
}

#[test]
fn a_claim_from_another_host_with_a_stale_heartbeat_is_recovered() {
    let dir = Dir::new();
    logged_gated(&dir, 2);
    claim_from_another_host(&dir, std::time::Duration::from_secs(600));
    release(&dir);
    // Older than the default --stale-after (2m): the runner takes c0 back.
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 1);
}
