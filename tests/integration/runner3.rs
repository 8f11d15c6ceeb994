//! Trust, round 3: the runner's defects (issue 15), one test or more per
//! defect, each citing it. Every wait is bounded: a runner that hangs fails
//! the test (and is SIGKILLed with what it started), it never hangs it.

use crate::interrupt::{alive, by_name, read_pid, Bg};
use crate::util::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------- helpers ----------

/// The most a runner may take to end once it should: generous for a busy
/// machine, far below a hang.
const BOUND: Duration = Duration::from_secs(60);

/// Kills the processes whose pids are in these files when dropped, so a
/// failing test leaves no server behind.
struct KillOnDrop(Vec<PathBuf>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in self.0.iter().filter_map(|path| read_pid(path)) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The pid written to `file` (relative to the test's directory), waiting for it.
fn pid_in(dir: &Dir, file: &str) -> i32 {
    let path = dir.path().join(file);
    wait_for(file, || read_pid(&path).is_some());
    read_pid(&path).unwrap()
}

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
    let guard = KillOnDrop(files.iter().map(|f| dir.path().join(f)).collect());
    let pids = files.iter().map(|f| pid_in(dir, f)).collect();
    (guard, pids)
}

fn assert_gone(pids: &[i32], after: &str) {
    for &pid in pids {
        assert!(!alive(pid), "service {pid} still runs after {after}");
    }
}

/// Configs that write their pid and wait for `TMP/release`.
fn gated_experiment(dir: &Dir, n: usize) {
    shell_experiment(
        dir,
        n,
        r#"echo "$PORT" > "$EXP_NAME.port"; echo $$ > "$EXP_NAME.pid"; while [ ! -e release ]; do sleep 0.02; done"#,
    );
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
    out.success();
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
        gated_experiment(&dir, 2);
        let runner =
            Bg::run(&dir, &["-j2", "--setup", SERVING_SETUP, "--kill-after", "5s", "--progress", "never"]);
        let (_guard, pids) = services(&dir);
        pid_in(&dir, "c0.pid");
        runner.signal(signal);
        let out = runner.finish_within(BOUND);
        out.code(code);
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
    gated_experiment(&dir, 1);
    let setup = "setsid sleep 300 & echo $! > server.pid; sleep 300 & echo $! > setup.pid; wait";
    let runner = Bg::run(&dir, &["--setup", setup, "--kill-after", "5s", "--progress", "never"]);
    let _guard = KillOnDrop(vec![dir.path().join("server.pid"), dir.path().join("setup.pid")]);
    let pids = [pid_in(&dir, "server.pid"), pid_in(&dir, "setup.pid")];
    runner.signal(Signal::SIGINT);
    let out = runner.finish_within(BOUND);
    out.code(130);
    assert!(out.stderr.contains("during --setup"), "{out:?}");
    assert_gone(&pids, "a stop during the setup");
    assert!(!dir.path().join("c0.pid").exists(), "nothing ran");
}

/// Trust round 3, defect 3: a runner that is SIGKILLed leaves no service
/// behind: its watchdog takes them as it takes commands.
#[test]
fn a_sigkilled_runner_takes_the_setups_services_with_it() {
    let dir = Dir::new();
    gated_experiment(&dir, 1);
    let mut runner = Bg::run(&dir, &["--setup", SERVING_SETUP, "--progress", "never"]);
    let (_guard, pids) = services(&dir);
    let command = pid_in(&dir, "c0.pid");
    runner.signal(Signal::SIGKILL);
    wait_for("the runner to die", || runner.exited().is_some());
    wait_for("its services and command to be gone", || !pids.iter().chain([&command]).any(|&p| alive(p)));
}

/// Trust round 3, defect 3: an error after the setup (here a journal the
/// setup itself damaged: exit 3) still stops its services.
#[test]
fn a_run_that_stops_on_an_error_stops_the_setups_services() {
    let dir = Dir::new();
    gated_experiment(&dir, 1);
    let journal = dir.exp().join(".exp/journal.jsonl");
    assert!(journal.exists(), "exp-add leaves a journal");
    let setup = format!("{SERVING_SETUP}\nprintf 'garbage\\ngarbage\\n' >> '{}'", journal.display());
    let runner = Bg::run(&dir, &["--setup", &setup, "--kill-after", "5s", "--progress", "never"]);
    let (_guard, pids) = services(&dir);
    let out = runner.finish_within(BOUND);
    out.code(3);
    assert_gone(&pids, "an error");
}

/// Trust round 3, defect 3: `--replay` with a setup stops its services too.
#[test]
fn a_replay_stops_the_setups_services() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, r#"printf '%s' "$PORT" > "$EXP_NAME.port""#);
    dir.run("exp-run", &["--progress", "never"]).success();
    std::fs::remove_file(dir.path().join("c0.port")).unwrap();
    let runner = Bg::run(&dir, &["--replay", "c0", "--setup", SERVING_SETUP, "--kill-after", "5s"]);
    let (_guard, pids) = services(&dir);
    let out = runner.finish_within(BOUND);
    out.success();
    assert_eq!(dir.read("c0.port"), "1234");
    assert_gone(&pids, "a replay");
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

/// Trust round 3, defect 3: `examples/setup-server.sh`, one server for all
/// workers (Delphyne's WorkersSetup): the configs talk to it via `$PORT`,
/// and it is gone when the run ends.
#[test]
fn the_setup_server_example_serves_every_worker_and_stops_with_the_run() {
    if std::process::Command::new("python3").arg("--version").output().is_err() {
        eprintln!("note: skipped: python3 is not installed");
        return;
    }
    let dir = Dir::new();
    let ask = r#"import json, os, urllib.request
reply = urllib.request.urlopen("http://127.0.0.1:" + os.environ["PORT"] + "/square?x={x}").read()
print(reply.decode())"#;
    dir.init(&["--naming", "x{x}"], &["python3", "-c", ask]);
    dir.run("exp-add", &["--grid", "x=1..6"]).success();
    let setup = format!("sh {}", example("setup-server.sh").display());
    let out = Bg::run(&dir, &["-j3", "--setup", &setup, "--progress", "never"]).finish_within(BOUND);
    out.success();
    let mut servers = std::collections::BTreeSet::new();
    for x in 1..=6 {
        let result: serde_json::Value =
            serde_json::from_str(&dir.read(&format!("exp/configs/x{x}/result.json"))).unwrap();
        assert_eq!(result["square"], x * x, "{result}");
        servers.insert(result["server_pid"].as_i64().unwrap());
    }
    assert_eq!(servers.len(), 1, "one server for all workers: {servers:?}");
    let server = *servers.first().unwrap() as i32;
    assert!(!alive(server), "the server is gone after the run");
}
