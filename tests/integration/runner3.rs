//! Trust, round 3: the runner's defects (issue 15), one test or more per
//! defect, each citing it. Every wait is bounded: a runner that hangs fails
//! the test (and is SIGKILLed with what it started), it never hangs it.

use crate::harness::*;
use nix::sys::signal::Signal;
use std::time::Duration;

// ---------- helpers ----------

/// The most a runner may take to end once it should: generous for a busy
/// machine, far below a hang.
const BOUND: Duration = Duration::from_secs(60);

/// The setup's log files in `DIR/.exp` (one per runner), concatenated.
fn setup_logs(dir: &Dir) -> String {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.exp().join(".exp")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("setup-") && name.ends_with(".log") {
            text += &std::fs::read_to_string(entry.path()).unwrap();
        }
    }
    text
}

/// A setup that leaves three services: a plain background `sleep`, one
/// that `setsid`s away, and one that keeps printing; then prints `PORT`
/// with a DOS line end. Their pids go to `server.pid`, `escaped.pid`,
/// `ticker.pid`.
const SERVING_SETUP: &str = r#"sleep 300 & echo $! > server.pid
setsid sleep 300 & echo $! > escaped.pid
(while :; do echo tick; sleep 0.05; done) & echo $! > ticker.pid
printf 'PORT=1234\r\n'"#;

fn services(dir: &Dir) -> (KillOnDrop, Vec<i32>) {
    let files = ["server.pid", "escaped.pid", "ticker.pid"];
    let guard = KillOnDrop::PidFiles(files.iter().map(|f| dir.path().join(f)).collect());
    let pids = files.iter().map(|f| wait_pid(dir, f)).collect();
    (guard, pids)
}

fn assert_gone(pids: &[i32], after: &str) {
    for &pid in pids {
        assert!(!alive(pid), "service {pid} still runs after {after}");
    }
}

/// Gated configs that write the `$PORT` a setup gave them to `TMP/NAME.port`.
fn port_experiment(dir: &Dir, n: usize) {
    gated_experiment(dir, n, r#"echo "$PORT" > "$EXP_NAME.port""#);
}

// ---------- defect 3: a setup that serves the run ----------

/// Trust round 3, defect 3: `--setup 'server & echo PORT=1234'` hung
/// exp-run (it waited for the setup's stdout to close, which the server
/// held), and the server outlived every run.
#[test]
fn a_setup_that_leaves_a_server_is_done_when_it_exits_and_its_services_stop_with_the_run() {
    let dir = Dir::new();
    shell_experiment(
        &dir,
        3,
        // Each command also waits until a service has printed into the log.
        r#"printf '%s' "$PORT" > "$EXP_NAME.port"; until grep -q tick "$EXP_DIR"/.exp/setup-*.log; do sleep 0.02; done"#,
    );
    let runner =
        Bg::run(&dir, &["-j2", "--setup", SERVING_SETUP, "--kill-after", "5s", "--progress", "never"]);
    let (_guard, pids) = services(&dir);
    let out = runner.finish_within(BOUND);
    out.succeeds();
    for name in ["c0", "c1", "c2"] {
        assert_eq!(dir.read(&format!("{name}.port")), "1234", "{name} got PORT, its \\r stripped");
    }
    assert_gone(&pids, "a normal end");
    assert!(setup_logs(&dir).contains("tick"), "what services print goes to .exp/setup-RUNNER.log");
}

/// Trust round 3, defect 3: Ctrl-C and SIGTERM stop the setup's services too.
#[test]
fn a_stopped_run_stops_the_setups_services() {
    for (signal, code) in [(Signal::SIGINT, 130), (Signal::SIGTERM, 143)] {
        let dir = Dir::new();
        port_experiment(&dir, 2);
        let runner =
            Bg::run(&dir, &["-j2", "--setup", SERVING_SETUP, "--kill-after", "5s", "--progress", "never"]);
        let (_guard, pids) = services(&dir);
        wait_pid(&dir, "pids/c0");
        runner.signal(signal);
        let out = runner.finish_within(BOUND);
        out.fails_with(code);
        assert_gone(&pids, &format!("{signal}"));
        assert_eq!(dir.read("c0.port").trim(), "1234");
        assert!(by_name(&dir).values().all(|row| row["status"] == "todo"));
    }
}

/// Trust round 3, defect 3: a stop signal while the setup still runs stops
/// it at once, with what it started (even what `setsid`s away).
#[test]
fn a_stop_during_the_setup_stops_it_and_what_it_started() {
    let dir = Dir::new();
    port_experiment(&dir, 1);
    let setup = "setsid sleep 300 & echo $! > server.pid; sleep 300 & echo $! > setup.pid; wait";
    let runner = Bg::run(&dir, &["--setup", setup, "--kill-after", "5s", "--progress", "never"]);
    let _guard = KillOnDrop::PidFiles(vec![dir.path().join("server.pid"), dir.path().join("setup.pid")]);
    let pids = [wait_pid(&dir, "server.pid"), wait_pid(&dir, "setup.pid")];
    runner.signal(Signal::SIGINT);
    let out = runner.finish_within(BOUND);
    out.fails_with(130).stderr_has("during --setup");
    assert_gone(&pids, "a stop during the setup");
    assert_eq!(gated_pid(&dir, "c0"), None, "nothing ran");
}

/// Trust round 3, defect 3: a runner that is SIGKILLed leaves no service
/// behind: its watchdog takes them as it takes commands.
#[test]
fn a_sigkilled_runner_takes_the_setups_services_with_it() {
    let dir = Dir::new();
    port_experiment(&dir, 1);
    let mut runner = Bg::run(&dir, &["--setup", SERVING_SETUP, "--progress", "never"]);
    let (_guard, pids) = services(&dir);
    let command = wait_pid(&dir, "pids/c0");
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    wait_for("its services and command to be gone", || !pids.iter().chain([&command]).any(|&p| alive(p)));
}

/// Trust round 3, defect 3: an error after the setup (here a journal the
/// setup itself damaged: exit 3) still stops its services.
#[test]
fn a_run_that_stops_on_an_error_stops_the_setups_services() {
    let dir = Dir::new();
    port_experiment(&dir, 1);
    let journal = dir.exp().join(".exp/journal.jsonl");
    assert!(journal.exists(), "exp-add leaves a journal");
    let setup = format!("{SERVING_SETUP}\nprintf 'garbage\\ngarbage\\n' >> '{}'", journal.display());
    let runner = Bg::run(&dir, &["--setup", &setup, "--kill-after", "5s", "--progress", "never"]);
    let (_guard, pids) = services(&dir);
    let out = runner.finish_within(BOUND);
    out.fails_with(3);
    assert_gone(&pids, "an error");
}

/// Trust round 3, defect 3: `--replay` with a setup stops its services too.
#[test]
fn a_replay_stops_the_setups_services() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, r#"printf '%s' "$PORT" > "$EXP_NAME.port""#);
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    std::fs::remove_file(dir.path().join("c0.port")).unwrap();
    let runner = Bg::run(&dir, &["--replay", "c0", "--setup", SERVING_SETUP, "--kill-after", "5s"]);
    let (_guard, pids) = services(&dir);
    let out = runner.finish_within(BOUND);
    out.succeeds();
    assert_eq!(dir.read("c0.port"), "1234");
    assert_gone(&pids, "a replay");
}

/// Trust round 3, defect 3: `examples/setup-server.sh`, one server for all
/// workers (Delphyne's WorkersSetup): the configs talk to it via `$PORT`,
/// and it is gone when the run ends.
#[test]
fn the_setup_server_example_serves_every_worker_and_stops_with_the_run() {
    if !python3("the_setup_server_example_serves_every_worker_and_stops_with_the_run") {
        return;
    }
    let dir = Dir::new();
    let ask = r#"import json, os, urllib.request
reply = urllib.request.urlopen("http://127.0.0.1:" + os.environ["PORT"] + "/square?x={x}").read()
print(reply.decode())"#;
    dir.init(&["--naming", "x{x}"], &["python3", "-c", ask]);
    dir.run("exp-add", &["--grid", "x=1..6"]).succeeds();
    let setup = format!("sh {}", repo("examples/setup-server.sh").display());
    let out = Bg::run(&dir, &["-j3", "--setup", &setup, "--progress", "never"]).finish_within(BOUND);
    out.succeeds();
    let mut servers = std::collections::BTreeSet::new();
    for x in 1..=6 {
        let result: serde_json::Value =
            serde_json::from_str(&dir.config_file(&format!("x{x}"), "result.json")).unwrap();
        assert_eq!(result["square"], x * x, "{result}");
        servers.insert(result["server_pid"].as_i64().unwrap());
    }
    assert_eq!(servers.len(), 1, "one server for all workers: {servers:?}");
    let server = *servers.first().unwrap() as i32;
    assert!(!alive(server), "the server is gone after the run");
}

// ---------- defect 7: every ending stops everything ----------

/// A shell line that starts a `setsid` escapee (a `sleep` in a session of
/// its own, still carrying EXP_RUNNER and EXP_NAME) whose pid goes to
/// `TMP/FILE`, and waits until that file is written.
fn escape(file: &str) -> String {
    format!(
        r#"setsid sh -c 'echo $$ > {file}.tmp && mv {file}.tmp {file}; exec sleep 300' &
while [ ! -e {file} ]; do sleep 0.01; done"#
    )
}

/// Trust round 3, defect 7: a config that ends (done, failed, timeout)
/// leaves nothing running: what it started in its own group and what
/// `setsid`'d away are killed before the config is recorded.
#[test]
fn every_ending_kills_what_the_command_left_behind_before_it_is_recorded() {
    let dir = Dir::new();
    let script = format!(
        r#"case $EXP_NAME in
c0) {c0}
    sleep 300 & echo $! > c0.bg
    echo '{{{{"ok": 1}}}}' ;;
c1) {c1}
    exit 3 ;;
c2) {c2}
    sleep 300 ;;
c3) trap '' TERM; echo $$ > c3.pid
    while [ ! -e release ]; do sleep 0.02; done ;;
esac"#,
        c0 = escape("c0.escaped"),
        c1 = escape("c1.escaped"),
        c2 = escape("c2.escaped"),
    );
    shell_experiment(&dir, 4, &script);
    let files = ["c0.escaped", "c0.bg", "c1.escaped", "c2.escaped", "c3.pid"];
    let _guard = KillOnDrop::PidFiles(files.iter().map(|f| dir.path().join(f)).collect());
    // c3 ignores the timeout's SIGTERM: it keeps the run going while we look.
    let runner = Bg::run(&dir, &["-j4", "--timeout", "5s", "--kill-after", "120s", "--progress", "never"]);
    let left: Vec<i32> = files[..4].iter().map(|f| wait_pid(&dir, f)).collect();
    wait_for("c0, c1 and c2 to end", || {
        let rows = by_name(&dir);
        ["c0", "c1", "c2"].iter().all(|name| rows[*name]["status"] != "running")
    });
    for (file, pid) in files.iter().zip(&left) {
        assert!(!alive(*pid), "{file} ({pid}) still runs after its config was recorded");
    }
    release(&dir);
    let out = runner.finish_within(BOUND);
    out.fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "done");
    assert_eq!(rows["c1"]["status"], "failed");
    assert!(rows["c2"]["error"].as_str().unwrap().contains("timeout"), "{:#}", rows["c2"]);
}

/// Trust round 3, defect 7: a stop puts a config back to todo only once
/// what its command started is gone, escapees too.
#[test]
fn a_stopped_config_leaves_no_escapee_running() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let dir = Dir::new();
        let script = format!("{}\necho $$ > \"$EXP_NAME.pid\"\nsleep 300", escape("$EXP_NAME.escaped"));
        shell_experiment(&dir, 2, &script);
        let files = ["c0.escaped", "c1.escaped"];
        let _guard = KillOnDrop::PidFiles(files.iter().map(|f| dir.path().join(f)).collect());
        let runner = Bg::run(&dir, &["-j2", "--kill-after", "60s", "--progress", "never"]);
        let escaped: Vec<i32> = files.iter().map(|f| wait_pid(&dir, f)).collect();
        wait_pid(&dir, "c0.pid");
        wait_pid(&dir, "c1.pid");
        runner.signal(signal);
        let out = runner.finish_within(BOUND);
        assert_eq!(out.code, Some(128 + signal as i32), "{out:?}");
        for pid in escaped {
            assert!(!alive(pid), "{signal}: escapee {pid} outlived its config's stop");
        }
        assert!(by_name(&dir).values().all(|row| row["status"] == "todo"));
    }
}

/// Trust round 3, defect 7: a retried config never runs beside what its
/// failed attempt left behind.
#[test]
fn a_retry_starts_only_once_the_failed_attempts_escapee_is_gone() {
    let dir = Dir::new();
    let script = format!(
        r#"if [ "$EXP_ATTEMPT" = 1 ]; then
{}
    exit 1
fi
if kill -0 "$(cat escaped)" 2>/dev/null; then echo alive > seen; else echo gone > seen; fi"#,
        escape("escaped")
    );
    shell_experiment(&dir, 1, &script);
    let _guard = KillOnDrop::PidFiles(vec![dir.path().join("escaped")]);
    let out = Bg::run(&dir, &["--retries", "1", "--progress", "never"]).finish_within(BOUND);
    out.succeeds();
    assert_eq!(dir.read("seen").trim(), "gone", "attempt 2 saw attempt 1's escapee");
}

// ---------- defect 10: runner-side problems never fail configs ----------

/// Run `exp-run exp ARGS` as uid/gid 65534 (`setpriv`), bounded.
fn run_as_nobody(dir: &Dir, args: &[&str]) -> Out {
    Bg::of(as_user(dir, 65534, "exp-run", args)).finish_within(BOUND)
}

/// Make the whole test directory world-writable (a shared experiment),
/// except what is under `except` (relative): root's alone, as umask 022 leaves it.
fn shared_with_nobody(dir: &Dir, except: &str) {
    let status = std::process::Command::new("chmod").args(["-R", "a+rwX"]).arg(dir.path()).status().unwrap();
    assert!(status.success());
    let except = dir.path().join(except);
    let status = std::process::Command::new("chmod").args(["-R", "go-w"]).arg(except).status().unwrap();
    assert!(status.success());
}

/// Every config is todo with no attempt counted and no start time.
fn assert_untouched_todo(dir: &Dir) {
    for (name, row) in by_name(dir) {
        assert_eq!(row["status"], "todo", "{name}: {row:#}");
        assert!(row["attempts"].as_u64().unwrap_or(0) == 0, "no attempt counted: {name}: {row:#}");
        assert!(row["start_time"].is_null(), "{name}: {row:#}");
    }
}

/// Trust round 3, defect 10: a `configs/` folder the runner may not write
/// (an experiment shared by two users, umask 022) recorded every config
/// failed in 0.0 s. It stops the run (exit 3) with the config back to todo.
#[test]
fn an_unwritable_configs_folder_stops_the_run_and_fails_no_config() {
    if !tools_run_as(65534, "an_unwritable_configs_folder_stops_the_run_and_fails_no_config") {
        return;
    }
    let dir = Dir::new();
    shell_experiment(&dir, 3, "true");
    shared_with_nobody(&dir, "exp/configs");
    let out = run_as_nobody(&dir, &["-j2", "--progress", "never"]);
    out.fails_with(3);
    let configs = dir.exp().join("configs").display().to_string();
    out.stderr_has(&configs)
        .stderr_has("ermission denied") // what and where
        .stderr_has("back to todo");
    assert_untouched_todo(&dir);
}

/// Trust round 3, defect 10: a config's own folder the runner may not
/// write (its earlier attempt ran as another user) stops the run too.
#[test]
fn an_unwritable_config_folder_stops_the_run_and_fails_no_config() {
    if !tools_run_as(65534, "an_unwritable_config_folder_stops_the_run_and_fails_no_config") {
        return;
    }
    let dir = Dir::new();
    shell_experiment(&dir, 2, r#"[ "$EXP_ATTEMPT" -gt 1 ]"#);
    dir.run("exp-run", &["--progress", "never"]).fails_with(1);
    shared_with_nobody(&dir, "exp/configs/c0");
    let out = run_as_nobody(&dir, &["--retry-failed", "--progress", "never"]);
    out.fails_with(3);
    let folder = dir.exp().join("configs/c0").display().to_string();
    out.stderr_has(&folder); // what and where
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "todo", "{:#}", rows["c0"]);
    assert_eq!(rows["c0"]["attempts"], 1, "the refused attempt is not counted: {:#}", rows["c0"]);
    assert!(rows["c1"]["status"] != "failed" || rows["c1"]["attempts"] == 1, "{:#}", rows["c1"]);
}

/// Trust round 3, defect 10: an immutable `configs/` (EPERM, even for
/// root) stops the run, the config back to todo.
#[test]
fn an_immutable_configs_folder_stops_the_run_and_fails_no_config() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, "true");
    let configs = dir.exp().join("configs");
    let Some(immutable) =
        Immutable::set(&configs, "an_immutable_configs_folder_stops_the_run_and_fails_no_config")
    else {
        return;
    };
    let out = run_bounded(&dir, "exp-run", &["-j2", "--progress", "never"]);
    drop(immutable);
    out.fails_with(3).stderr_has(configs.display().to_string()); // what and where
    assert_untouched_todo(&dir);
}

/// Trust round 3, defect 10: EMFILE while starting commands failed every
/// config in 0.0 s. The runner backs off (saying so once) and retries;
/// once files can be opened again, every config runs, once.
#[test]
fn too_many_open_files_backs_off_and_retries_without_failing_a_config() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|line| line.starts_with("Max open files")).unwrap();
    let hard = line.split_whitespace().nth(4).unwrap().to_string();
    // Between the lowest limit under which the runner can start (open its
    // state, start its watchdog) and the lowest under which it can start
    // commands, it runs out of files preparing a config's folder, then in
    // the spawn itself: try each limit up to where everything works.
    let mut backed_off = Vec::new();
    for limit in 6..40 {
        let dir = Dir::new();
        shell_experiment(&dir, 4, "true");
        // The soft limit; the hard one stays, so the soft one can be raised again.
        let limit_arg = format!("--nofile={limit}:{hard}");
        let exp_run = bin("exp-run").display().to_string();
        let mut runner =
            Bg::spawn_program(&dir, "prlimit", &[&limit_arg, &exp_run, "exp", "-j2", "--progress", "never"]);
        wait_for("the runner to back off or end", || {
            runner.exited().is_some() || runner.stderr().contains("backing off")
        });
        if runner.exited().is_none() {
            let raise = std::process::Command::new("prlimit")
                .args(["--pid", &runner.pid().to_string(), &format!("--nofile={hard}:{hard}")])
                .status()
                .unwrap();
            assert!(raise.success());
            let out = runner.finish_within(BOUND);
            out.succeeds();
            assert_eq!(out.stderr.matches("backing off").count(), 1, "said once: {out:?}");
            for (name, row) in by_name(&dir) {
                assert_eq!(row["status"], "done", "limit {limit}: {name}: {row:#}");
                assert_eq!(row["attempts"], 1, "limit {limit}: {name}: {row:#}");
            }
            backed_off.push(out.stderr);
            continue;
        }
        let out = runner.finish_within(BOUND);
        let rows = by_name(&dir);
        assert!(
            rows.values().all(|row| row["status"] != "failed"),
            "limit {limit}: configs failed for the runner's lack of files: {out:?}\n{rows:#?}"
        );
        if out.code == Some(0) {
            break;
        }
    }
    if backed_off.is_empty() {
        eprintln!("note: skipped: no open-files limit lets the runner start but not its commands");
    }
    assert!(backed_off.iter().all(|said| said.contains("Too many open files")), "{backed_off:#?}");
}

/// Trust round 3, defect 10 (a guard): a command that cannot be executed
/// (not found, not executable) is still the command's failure, not the
/// runner's: recorded failed, the run goes on.
#[test]
fn a_command_that_cannot_be_executed_is_still_the_commands_failure() {
    let dir = Dir::new();
    std::fs::write(dir.path().join("not-executable.sh"), "#!/bin/sh\necho hi\n").unwrap();
    dir.init(&["--naming", "c{i}"], &["./{i}"]);
    dir.run("exp-add", &["--grid", "i=not-executable.sh,missing.sh"]).succeeds();
    let out = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    out.fails_with(1);
    let rows = by_name(&dir);
    for name in ["cnot-executable.sh", "cmissing.sh"] {
        assert_eq!(rows[name]["status"], "failed", "{name}: {:#}", rows[name]);
        assert_eq!(rows[name]["attempts"], 1, "{name}: {:#}", rows[name]);
    }
    out.stderr_lacks("backing off");
}

// ---------- defect 12: no silent empty results ----------

/// Trust round 3, defect 12: a command printed
/// `{"bytes": 5848361, "secs": .304752839}` (not JSON: `.3`), and its
/// config ended done with empty cells, without a word. The result is still
/// the last stdout line that parses; a later line that starts with `{` and
/// does not is warned about, once per config, by exp-run and exp-summary.
#[test]
fn a_result_line_that_is_not_json_is_warned_about_by_run_and_summary() {
    let dir = Dir::new();
    let script = r#"case $EXP_NAME in
c0) echo '{{"bytes": 5848361, "secs": .304752839}}' ;;
c1) echo '{{"ok": 1}}'; echo '{{"bytes": 1, "secs": .5}}'; echo '{{"bytes": 2, "secs": .5}}' ;;
c2) echo '{{not a result'; echo '{{"ok": 2}}' ;;
esac"#;
    shell_experiment(&dir, 3, script);
    let run = dir.run("exp-run", &["--progress", "never"]);
    run.succeeds();
    let warned = |out: &Out, name: &str| {
        out.stderr
            .lines()
            .filter(|line| line.contains("warning") && line.contains(&format!("{name}:")))
            .count()
    };
    assert_eq!(warned(&run, "c0"), 1, "{run:?}");
    assert_eq!(warned(&run, "c1"), 1, "{run:?}");
    assert_eq!(warned(&run, "c2"), 0, "a bad line before the result is no matter: {run:?}");
    run.stderr_has(".304752839"); // the line is shown
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "done", "a result is not required here");
    let summary = dir.run("exp-summary", &[]);
    summary.succeeds();
    assert_eq!(warned(&summary, "c0"), 1, "{summary:?}");
    assert_eq!(warned(&summary, "c1"), 1, "{summary:?}");
    assert_eq!(warned(&summary, "c2"), 0, "{summary:?}");
    let json = dir.run("exp-summary", &["--json"]);
    let results: Vec<serde_json::Value> =
        json.json_lines().into_iter().map(|l| l["result"].clone()).collect();
    assert_eq!(
        results,
        [serde_json::Value::Null, serde_json::json!({"ok": 1}), serde_json::json!({"ok": 2})]
    );
}

/// Trust round 3, defect 12: `exp-init --require-result` (kept in the
/// experiment) and `exp-run --require-result` record a config that exits 0
/// without a result as failed, `error: "no result"`; `exp-init --update
/// --no-require-result` lifts it.
#[test]
fn require_result_fails_a_config_that_exits_0_without_a_result() {
    let dir = Dir::new();
    let script = r#"if [ "$EXP_PARAM_I" = 0 ]; then echo '{{"ok": 1}}'; else echo '{{"secs": .3}}'; fi"#;
    dir.init(&["--naming", "c{i}", "--shell", script, "--require-result"], &[]);
    dir.run("exp-add", &["--grid", "i=0..1"]).succeeds();
    // The same definition again is still the same experiment.
    dir.run("exp-init", &["--naming", "c{i}", "--shell", script, "--require-result"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "done");
    assert_eq!(rows["c1"]["status"], "failed");
    assert_eq!(rows["c1"]["error"], "no result");
    assert_eq!(rows["c1"]["exit_code"], 0);

    dir.run("exp-init", &["--update", "--no-require-result"]).succeeds();
    dir.run("exp-run", &["--retry-failed", "--progress", "never"]).succeeds();
    assert_eq!(by_name(&dir)["c1"]["status"], "done", "lifted");

    // exp-run's own flag, on an experiment that does not ask for it.
    let out = dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c0\nc1\n");
    out.succeeds();
    dir.run("exp-run", &["--require-result", "--progress", "never"]).fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "done");
    assert_eq!(rows["c1"]["error"], "no result");
}

// ---------- defect 13: a replay runs what ran ----------

/// Trust round 3, defect 13: after `exp-init --update`, `--replay` ran the
/// new command. It runs the argv recorded in the folder's command.json, in
/// today's workdir and environment, and says that the template changed; a
/// folder without command.json (an older run) replays today's command,
/// saying so.
#[test]
fn a_replay_runs_the_recorded_command_in_todays_environment() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--env", "X=old"], &["sh", "-c", "echo v1 {i} $X > out.txt"]);
    dir.run("exp-add", &["--grid", "i=7"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(dir.read("out.txt"), "v1 7 old\n");
    dir.run("exp-init", &["--update", "--env", "X=new", "--", "sh", "-c", "echo v2 {i} $X > out.txt"])
        .succeeds();

    let out = dir.run("exp-run", &["--replay", "c7"]);
    out.succeeds();
    assert_eq!(dir.read("out.txt"), "v1 7 new\n", "the recorded argv, today's environment");
    out.stderr_has("changed"); // says the template changed since

    std::fs::remove_file(dir.exp().join("configs/c7/command.json")).unwrap();
    let out = dir.run("exp-run", &["--replay", "c7"]);
    out.succeeds();
    assert_eq!(dir.read("out.txt"), "v2 7 new\n", "no record: today's command");
    out.stderr_has("command.json"); // says it has no record

    // Run under today's template, a replay says nothing of the kind.
    dir.run("exp-add", &["--grid", "i=8"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    let out = dir.run("exp-run", &["--replay", "c8"]);
    out.succeeds();
    assert_eq!(dir.read("out.txt"), "v2 8 new\n");
    out.stderr_lacks("changed").stderr_lacks("command.json");
}

// ---------- smaller things ----------

/// Trust round 3: `--dry-run` shows each config's name, its argv and the
/// variables exp would set for it (`--env` and the experiment's env, the
/// `{worker}` slots, `EXP_*`), never the inherited environment; with
/// `--json`, one object per config with `name`, `argv`, `env`.
#[test]
fn dry_run_shows_each_configs_argv_and_the_variables_exp_sets() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}", "--env", "MODEL=m{i}"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=0..3"]).succeeds();
    let mut cmd = dir.cmd("exp-run");
    cmd.args(["exp", "--dry-run", "--json", "-j2", "--env", "GPU={worker}"])
        .env("INHERITED_SECRET", "s3cr3t");
    let out = Out::of(cmd.output().unwrap());
    out.succeeds();
    let lines = out.json_lines();
    assert_eq!(lines.len(), 4, "{out:?}");
    let mut workers = std::collections::BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["name"], format!("c{i}"));
        assert_eq!(line["argv"], serde_json::json!(["echo", i.to_string()]));
        let env = line["env"].as_object().unwrap_or_else(|| panic!("env is an object: {line}"));
        assert_eq!(env["MODEL"], format!("m{i}"));
        assert_eq!(env["EXP_NAME"], format!("c{i}"));
        assert_eq!(env["EXP_PARAM_I"], i.to_string());
        assert_eq!(env["EXP_ATTEMPT"], "1");
        assert_eq!(env["GPU"], env["EXP_WORKER"], "{{worker}} is the slot: {line}");
        workers.insert(env["GPU"].as_str().unwrap().to_string());
        for key in
            ["EXP_DIR", "EXP_CONFIG_DIR", "EXP_PARAMS", "EXP_RESULT", "EXP_CACHE_DIR", "EXP_CACHE_MODE"]
        {
            assert!(env.contains_key(key), "{key}: {line}");
        }
        assert!(!env.contains_key("INHERITED_SECRET") && !env.contains_key("PATH"), "{line}");
    }
    assert_eq!(workers.len(), 2, "both slots are shown: {workers:?}");

    let mut cmd = dir.cmd("exp-run");
    cmd.args(["exp", "--dry-run", "--limit", "1"]).env("INHERITED_SECRET", "s3cr3t");
    let out = Out::of(cmd.output().unwrap());
    out.succeeds();
    assert!(out.stdout.starts_with("c0: echo 0\n"), "{out:?}");
    out.stdout_has("\n    MODEL=m0\n").stdout_has("\n    EXP_NAME=c0\n").stdout_lacks("s3cr3t");
}

/// Trust round 3: off a terminal, the counter's denominator shrank while a
/// stop put configs back (`[0/4]`, `[0/3]`, `[0/2]`); it stays put.
#[test]
fn the_counter_keeps_its_total_during_a_stop() {
    let dir = Dir::new();
    port_experiment(&dir, 4);
    let runner = Bg::run(&dir, &["-j4", "--kill-after", "60s"]);
    for i in 0..4 {
        wait_pid(&dir, &format!("pids/c{i}"));
    }
    runner.signal(Signal::SIGINT);
    let out = runner.finish_within(BOUND);
    out.fails_with(130);
    let totals: Vec<&str> = out
        .stderr
        .lines()
        .filter_map(|line| line.split_once('[')?.1.split_once(']')?.0.split_once('/').map(|(_, total)| total))
        .collect();
    assert!(totals.len() >= 4, "a line per interrupted config: {out:?}");
    assert!(totals.iter().all(|&total| total == "4"), "{totals:?}\n{}", out.stderr);
}
