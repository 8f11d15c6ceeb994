//! Who is alive, across hosts, PID namespaces, clocks and Unix users; and
//! what a damaged journal says (Trust, round 3).
//!
//! Other hosts are played by runners in a new UTS namespace with another
//! hostname, containers by a new PID namespace (`unshare`), skewed clocks
//! by `faketime`, other users by `setpriv`. What this machine cannot set up
//! (not root, a tool missing) is skipped with a note on stderr, never failed.

use crate::harness::*;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::process::Command;

// ---------- helpers ----------

/// c0 was left to its runner `a`, alive elsewhere, while the others ran
/// once here; released, `a` finishes it.
fn c0_left_to_its_runner(dir: &Dir, a: Bg) {
    let rows = by_name(dir);
    assert_eq!(rows["c0"]["status"], "running", "{rows:#?}");
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(dir)["c0"], 1, "c0 was not run twice");
    release(dir);
    a.finish().succeeds();
    assert_eq!(by_name(dir)["c0"]["status"], "done");
}

// ---------- defect 2: one hostname, two PID namespaces ----------

/// `unshare -p --fork --mount-proc TOOL exp ARGS`: a runner in a container
/// that shares the host's hostname (Docker `--network=host`). Killing
/// unshare kills its child, and so the namespace.
fn in_pid_namespace(dir: &Dir, tool: &str, args: &[&str]) -> Command {
    wrapped(dir, &["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"], tool, args)
}

fn pid_namespaces_work(test: &str) -> bool {
    can_run("unshare", &["--pid", "--fork", "--mount-proc", "--kill-child", "true"], test)
}

/// Trust round 3, defect 2: a runner in another PID namespace with the same
/// hostname was taken for dead (its pid looked up in the wrong namespace):
/// it is judged by its heartbeat only, and recovered once that is stale.
#[test]
fn a_runner_in_another_pid_namespace_is_judged_by_its_heartbeat() {
    let test = "a_runner_in_another_pid_namespace_is_judged_by_its_heartbeat";
    if !pid_namespaces_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    // Runner A in its own PID namespace (its pid 1) takes c0 only.
    let mut a = Bg::of(in_pid_namespace(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start in the namespace", || gated_pid(&dir, "c0").is_some());
    // Runners here know A is alive: --exclusive refuses, a plain run leaves c0 alone.
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).fails_with(4);
    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running", "{rows:#?}");
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 1);

    // A dies, its namespace with it: the kernel kills every process of it
    // before unshare learns that its child, A, is gone.
    let a_here = children_of(a.pid().as_raw()).into_iter().next().expect("unshare's child: runner A");
    kill(Pid::from_raw(a_here), Signal::SIGKILL).unwrap();
    a.wait_exit();
    // Nothing tells that A is dead but its heartbeat: c0 is A's until it is stale.
    let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "1h"]);
    assert_eq!(out.succeeds().row("c0")["status"], "running", "{out:#?}");
    wait_for("c0 recovered once A's heartbeat is older than 2s", || {
        let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "2s"]);
        out.succeeds().row("c0")["status"] == "todo"
    });
    release(&dir);
    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(by_name(&dir)["c0"]["status"], "done");
    assert_eq!(runs(&dir)["c0"], 2, "run again only after A was gone");
}

/// Trust round 3, defect 2: a runner inside a PID namespace took the live
/// claim of a runner outside it (same hostname) for dead, and ran it again.
#[test]
fn a_runner_inside_a_pid_namespace_leaves_a_live_claim_alone() {
    let test = "a_runner_inside_a_pid_namespace_leaves_a_live_claim_alone";
    if !pid_namespaces_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    let a = Bg::run(&dir, &["-j1", "--limit", "1", "--progress", "never"]);
    wait_for("c0 to start", || gated_pid(&dir, "c0").is_some());
    // From inside the namespace, A's pid means nothing: A is alive by its heartbeat.
    let status = Bg::of(in_pid_namespace(&dir, "exp-status", &["--json"])).finish();
    assert_eq!(status.succeeds().row("c0")["status"], "running", "{status:#?}");
    let exclusive = Bg::of(in_pid_namespace(&dir, "exp-run", &["--exclusive", "--progress", "never"]));
    exclusive.finish().fails_with(4);
    Bg::of(in_pid_namespace(&dir, "exp-run", &["--progress", "never"])).finish().succeeds();
    c0_left_to_its_runner(&dir, a);
    assert_eq!(runs(&dir)["c0"], 1);
}

// ---------- defect 4: clocks ----------

/// c0 claimed by a runner on `other-host` that died with its host: its
/// runner, its watchdog and its command SIGKILLed, nothing cleaned up.
/// Returns its registration file, whose mtime is its heartbeat.
fn dead_runner_on_other_host(dir: &Dir) -> std::path::PathBuf {
    let mut a = Bg::of(on_other_host(dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start on the other host", || gated_pid(dir, "c0").is_some());
    let command = gated_pid(dir, "c0").unwrap();
    kill_runner_and_watchdog(&mut a);
    let _ = killpg(Pid::from_raw(command), Signal::SIGKILL);
    wait_for("its command to die", || !alive(command));
    let id = by_name(dir)["c0"]["runner"]["id"].as_str().expect("c0 is claimed").to_string();
    dir.exp().join(format!(".exp/runners/{id}.json"))
}

/// `TOOL exp ARGS` as if on host `other-host`: in a new UTS namespace with
/// that hostname (the same kernel and filesystem, another name).
fn on_other_host(dir: &Dir, tool: &str, args: &[&str]) -> Command {
    let script = r#"hostname other-host && exec "$0" "$@""#;
    wrapped(dir, &["unshare", "--uts", "sh", "-c", script], tool, args)
}

/// `TOOL exp ARGS` with a clock `shift` off (`+5m`, `-5m`): libfaketime
/// shifts what the process reads of the clock, not the stamps the kernel
/// puts on files.
fn skewed(dir: &Dir, shift: &str, tool: &str, args: &[&str]) -> Command {
    wrapped(dir, &["faketime", "-f", shift], tool, args)
}

/// Whether both can be played here; CI installs faketime.
fn clocks_and_hosts_work(test: &str) -> bool {
    can_run("unshare", &["--uts", "sh", "-c", "hostname other-host"], test)
        && can_run("faketime", &["-f", "+5m", "true"], test)
}

/// Trust round 3, defect 4: a reader whose clock is 5 minutes ahead took a
/// live runner on another host for dead (its heartbeat looked 5 minutes
/// old): the age is measured on the filesystem's clock.
#[test]
fn a_reader_with_a_clock_ahead_leaves_a_live_runner_on_another_host_alone() {
    let test = "a_reader_with_a_clock_ahead_leaves_a_live_runner_on_another_host_alone";
    if !clocks_and_hosts_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    let a = Bg::of(on_other_host(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start on the other host", || gated_pid(&dir, "c0").is_some());
    assert_eq!(by_name(&dir)["c0"]["runner"]["host"], "other-host");

    let status = Bg::of(skewed(&dir, "+5m", "exp-status", &["--json", "--stale-after", "2m"])).finish();
    assert_eq!(status.succeeds().row("c0")["status"], "running", "{status:#?}");
    let run = Bg::of(skewed(&dir, "+5m", "exp-run", &["--stale-after", "2m", "--progress", "never"]));
    let run = run.finish();
    run.succeeds().stderr_lacks("back to todo");
    c0_left_to_its_runner(&dir, a);
}

/// Trust round 3, defect 4: a reader whose clock is 5 minutes behind saw a
/// dead runner's heartbeat in the future and kept its claim running for
/// ever: on the filesystem's clock the heartbeat ages, and the claim is
/// recovered once it is older than `--stale-after`.
#[test]
fn a_reader_with_a_clock_behind_recovers_a_dead_runner_on_another_host() {
    let test = "a_reader_with_a_clock_behind_recovers_a_dead_runner_on_another_host";
    if !clocks_and_hosts_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 2);
    dead_runner_on_other_host(&dir);
    wait_for("c0 recovered by a reader 5 minutes behind", || {
        let status = Bg::of(skewed(&dir, "-5m", "exp-status", &["--json", "--stale-after", "2s"])).finish();
        status.succeeds().row("c0")["status"] == "todo"
    });
    release(&dir);
    Bg::of(skewed(&dir, "-5m", "exp-run", &["--progress", "never"])).finish().succeeds();
    assert_eq!(by_name(&dir)["c0"]["status"], "done");
    assert_eq!(runs(&dir)["c0"], 2);
}

/// Trust round 3, defect 4: a heartbeat stamped in the future counts as
/// alive only within `--stale-after` of now, with a warning.
#[test]
fn a_heartbeat_from_the_future_is_alive_only_within_stale_after() {
    let test = "a_heartbeat_from_the_future_is_alive_only_within_stale_after";
    if !clocks_and_hosts_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 2);
    let registration = dead_runner_on_other_host(&dir);
    let stamp = |ahead: u64| {
        let beat = std::time::SystemTime::now() + std::time::Duration::from_secs(ahead);
        std::fs::File::options().write(true).open(&registration).unwrap().set_modified(beat).unwrap();
    };
    stamp(30);
    let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "2m"]);
    assert_eq!(out.succeeds().row("c0")["status"], "running", "{out:#?}");
    out.stderr_has("in the future");
    stamp(600);
    let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "2m"]);
    assert_eq!(out.succeeds().row("c0")["status"], "todo", "{out:#?}");
    out.stderr_has("in the future");
}

/// Trust round 3, defect 4: a reader that cannot make a file beside the
/// heartbeats (another user's experiment) judges them by its own clock,
/// and says so, once.
#[test]
fn a_reader_that_cannot_write_uses_its_own_clock_and_says_so() {
    let test = "a_reader_that_cannot_write_uses_its_own_clock_and_says_so";
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: {test}: skipped, needs root to play another user");
        return;
    }
    if !clocks_and_hosts_work(test) || !can_run("setpriv", &["--reuid=10001", "true"], test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 2);
    let a = Bg::of(on_other_host(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start on the other host", || gated_pid(&dir, "c0").is_some());
    // Readable by all, writable by root only.
    set_mode(dir.path(), 0o755);
    let reader = wrapped(
        &dir,
        &["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups"],
        "exp-status",
        &["--json"],
    );
    let out = Bg::of(reader).finish();
    assert_eq!(out.succeeds().row("c0")["status"], "running", "{out:#?}");
    assert_eq!(out.stderr.matches("this host's clock").count(), 1, "{out:#?}");
    release(&dir);
    a.finish().succeeds();
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---------- defect 8: another Unix user ----------

fn two_users_work(test: &str) -> bool {
    tools_run_as(ALICE, test) && tools_run_as(BOB, test)
}

const ALICE: u32 = 10001;
const BOB: u32 = 10002;

/// The experiment opened to every user (as `chmod -R a+rwX` makes it), c0
/// started by alice's runner, then her runner and watchdog SIGKILLed: the
/// pid of c0's command, which runs on.
fn orphan_of_alice(dir: &Dir) -> i32 {
    let opened = Command::new("chmod").arg("-R").arg("a+rwX").arg(dir.path()).status().unwrap();
    assert!(opened.success());
    let mut a = Bg::of(as_user(dir, ALICE, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start as alice", || gated_pid(dir, "c0").is_some());
    kill_runner_and_watchdog(&mut a);
    gated_pid(dir, "c0").unwrap()
}

/// Trust round 3, defect 8: user A's runner and watchdog were SIGKILLed
/// while its command ran on; user B's tools could not read that command's
/// environment, found no leftover of A's runner, and ran the config again.
/// Now B leaves the claim alone and says whose it is; A's tools recover it
/// once the command has ended.
#[test]
fn a_claim_whose_command_may_run_under_another_user_is_left_to_that_user() {
    let test = "a_claim_whose_command_may_run_under_another_user_is_left_to_that_user";
    if !two_users_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    let command = orphan_of_alice(&dir);
    let _orphan = KillOnDrop::Group(command);
    assert!(alive(command), "the command runs on");

    // Root's housekeeping sees the command, and keeps what says whose c0 is.
    run_bounded(&dir, "exp-clean", &[]).succeeds();
    // Bob cannot see alice's processes: c0 stays hers, and he is told so.
    let status = Bg::of(as_user(&dir, BOB, "exp-status", &["--json"])).finish();
    assert_eq!(status.succeeds().row("c0")["status"], "running", "{status:#?}");
    status
        .stderr_has(ALICE.to_string()) // says whose
        .stderr_has("exp-status"); // says what to do
    Bg::of(as_user(&dir, BOB, "exp-run", &["--progress", "never"])).finish().succeeds();
    assert_eq!(runs(&dir)["c0"], 1, "c0 was not run twice");
    // Not even once the command has ended: bob cannot know that it has.
    killpg(Pid::from_raw(command), Signal::SIGKILL).unwrap();
    wait_for("the command to die", || !alive(command));
    let status = Bg::of(as_user(&dir, BOB, "exp-status", &["--json"])).finish();
    assert_eq!(status.succeeds().row("c0")["status"], "running", "{status:#?}");

    // Alice's own tools recover it; then bob runs it, in the folder alice made.
    let status = Bg::of(as_user(&dir, ALICE, "exp-status", &["--json"])).finish();
    assert_eq!(status.succeeds().row("c0")["status"], "todo", "{status:#?}");
    release(&dir);
    Bg::of(as_user(&dir, BOB, "exp-run", &["--progress", "never"])).finish().succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 2);
}

/// Trust round 3, defect 8: root's tools may look at every user's
/// processes, so they recover such a claim once its command has ended.
#[test]
fn root_recovers_another_users_claim_once_its_command_has_ended() {
    let test = "root_recovers_another_users_claim_once_its_command_has_ended";
    if !two_users_work(test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 2);
    let command = orphan_of_alice(&dir);
    let _orphan = KillOnDrop::Group(command);
    // Root sees the command: c0 stays running while it lives.
    assert_eq!(by_name(&dir)["c0"]["status"], "running");
    killpg(Pid::from_raw(command), Signal::SIGKILL).unwrap();
    wait_for("the command to die", || !alive(command));
    wait_for("root to recover c0", || by_name(&dir)["c0"]["status"] == "todo");
}

// ---------- defect 14: a damaged journal byte ----------

/// Configs `cfg1..cfg3`; a runner SIGKILLed while cfg3 runs, after cfg1 and
/// cfg2 are done, leaves a journal of a header and five lines (cfg1
/// claimed, cfg1 done, cfg2 claimed, cfg2 done, cfg3 claimed).
fn journal_of_a_killed_run(dir: &Dir) -> Vec<String> {
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    let script = r#"echo "$EXP_NAME" >> runs.txt
[ "$EXP_NAME" = cfg3 ] || exit 0
echo $$ > "pids/$EXP_NAME"
while [ ! -e release ]; do sleep 0.05; done"#;
    dir.init(&["--naming", "cfg{i}", "--shell", script], &[]);
    run_bounded(dir, "exp-add", &["--grid", "i=1..3"]).succeeds();
    let mut runner = Bg::run(dir, &["-j1", "--progress", "never"]);
    let command = wait_pid(dir, "pids/cfg3");
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    wait_for("its command to die", || !alive(command));
    let lines: Vec<String> = dir.read("exp/.exp/journal.jsonl").lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    lines
}

/// Flip one byte of `name` in line `index` of the journal (`cfg1` -> `cfh1`).
fn flip_name(dir: &Dir, index: usize, name: &str) {
    let path = dir.journal_path();
    let mut bytes = std::fs::read(&path).unwrap();
    let start: usize = bytes.split_inclusive(|&b| b == b'\n').take(index).map(<[u8]>::len).sum();
    let line_len = bytes[start..].iter().position(|&b| b == b'\n').unwrap();
    let quoted = format!("\"{name}\"");
    let at = bytes[start..start + line_len]
        .windows(quoted.len())
        .position(|w| w == quoted.as_bytes())
        .unwrap_or_else(|| panic!("no {quoted} in line {index}"));
    bytes[start + at + 3] ^= 0x0f; // "cfg1" -> "cfh1"
    std::fs::write(&path, bytes).unwrap();
}

/// Trust round 3, defect 14: one flipped byte of a config's name in a
/// journal line made every tool show a config that never existed (`cfh1`
/// beside `cfg1`). Each line carries a CRC-32C now: a damaged line that is
/// not the last one is exit 3 for every tool, and nothing changes.
#[test]
fn a_damaged_byte_in_a_middle_journal_line_is_exit_3_for_every_tool() {
    let dir = Dir::new();
    journal_of_a_killed_run(&dir);
    flip_name(&dir, 2, "cfg1");
    let journal = std::fs::read(dir.journal_path()).unwrap();
    let state = dir.state_file();
    for (tool, args) in EVERY_TOOL {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(3), "{tool} {args:?}: expected exit 3\n{out:#?}");
        assert!(out.stderr.contains("journal.jsonl"), "{tool} {args:?} does not name the journal: {out:#?}");
        assert!(!out.stdout.contains("cfh1"), "{tool} {args:?}: {out:#?}");
        assert_eq!(dir.state_file(), state, "{tool} {args:?} changed experiment.yaml");
        assert_eq!(
            std::fs::read(dir.journal_path()).unwrap(),
            journal,
            "{tool} {args:?} changed the journal"
        );
    }
}

/// Trust round 3, defect 14: a damaged last line is cut, with a warning,
/// as a torn one is: no invented config appears.
#[test]
fn a_damaged_byte_in_the_last_journal_line_is_cut_with_a_warning() {
    let dir = Dir::new();
    journal_of_a_killed_run(&dir);
    flip_name(&dir, 5, "cfg3");
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    assert_eq!(names(&out.succeeds().json_lines()), ["cfg1", "cfg2", "cfg3"], "{out:#?}");
    out.stderr_has("last line"); // warns
    assert_eq!(out.row("cfg3")["status"], "todo", "its claim was in the damaged line");
    release(&dir);
    let run = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    run.succeeds().stderr_has("cut");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    assert!(!rows.contains_key("cfh3"), "{rows:#?}");
    assert!(!dir.read("exp/.exp/journal.jsonl").contains("cfh3"));
}

/// Trust round 3, defect 14: a journal written before checksums (its
/// header declares none) loads as before, and is appended to in its own
/// format until the next fold starts a checksummed one.
#[test]
fn a_journal_without_checksums_still_loads() {
    let dir = Dir::new();
    let lines = journal_of_a_killed_run(&dir);
    // The same journal as an earlier release wrote it: no checksum anywhere.
    let old: String = lines
        .iter()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            object.remove("crc");
            object.remove("checksums");
            format!("{value}\n")
        })
        .collect();
    std::fs::write(dir.journal_path(), &old).unwrap();
    // A reader recovers cfg3's dead claim: one more line, in the old format.
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    assert_eq!(out.succeeds().row("cfg1")["status"], "done", "{out:#?}");
    assert_eq!(out.row("cfg2")["status"], "done");
    assert_eq!(out.row("cfg3")["status"], "todo");
    let text = dir.read("exp/.exp/journal.jsonl");
    assert!(text.starts_with(&old), "appended to, not rewritten");
    assert_eq!(text.lines().count(), 7, "{text}");
    assert!(!text.contains("crc"), "{text}");
    // The next fold starts a journal with checksums.
    release(&dir);
    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(with_status(&by_name(&dir), "done").len(), 3);
    let text = dir.read("exp/.exp/journal.jsonl");
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["checksums"], "crc32c", "{text}");
}

// ---------- the node a config ran on ----------

/// Trust round 3 (the multi-node cluster; a field, not a defect): `host` in
/// `exp-status --json` is where a config's latest attempt ran (null when it
/// never started); set when it is claimed, kept when it ends, cleared by a
/// reset.
#[test]
fn status_shows_the_host_of_each_configs_latest_attempt() {
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    let here = hostname();
    assert!(dir.status().iter().all(|row| row.get("host") == Some(&serde_json::Value::Null)));
    let elsewhere =
        can_run("unshare", &["--uts", "true"], "status_shows_the_host_of_each_configs_latest_attempt");
    let (a, there) = match elsewhere {
        true => (
            Bg::of(on_other_host(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"])),
            "other-host",
        ),
        false => (Bg::run(&dir, &["-j1", "--limit", "1", "--progress", "never"]), here.as_str()),
    };
    wait_for("c0 to start", || gated_pid(&dir, "c0").is_some());
    assert_eq!(by_name(&dir)["c0"]["host"], there);
    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    release(&dir);
    a.finish().succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    assert_eq!(rows["c0"]["host"], there, "kept when it ends");
    assert_eq!(rows["c1"]["host"], here.as_str());
    let reset = dir.run_stdin("exp-clean", &["--reset", "--names", "-"], "c1\n");
    reset.succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "todo");
    assert!(rows["c1"]["host"].is_null(), "cleared by a reset: {:#}", rows["c1"]);
    assert_eq!(rows["c2"]["host"], here.as_str());
}

// ---------- a node lost near the end of a sweep ----------

/// Trust round 3 (the multi-node cluster): a runner that ran out of work
/// left while a dead host's claim was not yet stale, and the sweep ended
/// with it undone. A runner with nothing left waits for another host's
/// runner whose heartbeat is late, until it beats again or is stale.
#[test]
fn a_runner_out_of_work_waits_for_a_late_host_and_recovers_its_claim() {
    let test = "a_runner_out_of_work_waits_for_a_late_host_and_recovers_its_claim";
    if !can_run("unshare", &["--uts", "sh", "-c", "hostname other-host"], test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    dead_runner_on_other_host(&dir);
    release(&dir);
    let out = run_bounded(&dir, "exp-run", &["--stale-after", "6s", "--progress", "never"]);
    out.succeeds().stderr_has("other-host"); // it says whom it waits for
    let rows = by_name(&dir);
    assert!(rows.values().all(|row| row["status"] == "done"), "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 2, "c0 ran again, once");
}

/// Trust round 3 (the multi-node cluster), the guard of that fix: a live
/// runner on another host, busy with a long config, beats within a
/// heartbeat; the runner out of work then leaves it be, and ends.
#[test]
fn a_runner_out_of_work_leaves_a_live_host_be_once_it_beats() {
    let test = "a_runner_out_of_work_leaves_a_live_host_be_once_it_beats";
    if !can_run("unshare", &["--uts", "sh", "-c", "hostname other-host"], test) {
        return;
    }
    let dir = Dir::new();
    c0_gated_experiment(&dir, 3);
    let a = Bg::of(on_other_host(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start on the other host", || gated_pid(&dir, "c0").is_some());
    let out = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    out.succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running", "left to its live runner: {out:#?}");
    assert_eq!(runs(&dir)["c0"], 1);
    release(&dir);
    a.finish().succeeds();
    assert_eq!(by_name(&dir)["c0"]["status"], "done");
}
