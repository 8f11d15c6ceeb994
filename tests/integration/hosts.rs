//! Who is alive, across hosts, PID namespaces, clocks and Unix users; and
//! what a damaged journal says (Trust, round 3).
//!
//! Other hosts are played by runners in a new UTS namespace with another
//! hostname, containers by a new PID namespace (`unshare`), skewed clocks
//! by `faketime`, other users by `setpriv`. What this machine cannot set up
//! (not root, a tool missing) is skipped with a note on stderr, never failed.

use crate::interrupt::{by_name, read_pid, run_bounded, runs, touch, with_status, Bg};
use crate::util::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Command, Stdio};

// ---------- helpers ----------

/// Configs `c0..c{n-1}` whose command logs its name to `TMP/runs.txt`; c0
/// writes its shell's pid to `TMP/pids/c0` and blocks until `TMP/release`
/// exists, the others end at once.
fn gated_experiment(dir: &Dir, n: usize) {
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    let script = r#"echo "$EXP_NAME" >> runs.txt
[ "$EXP_PARAM_I" = 0 ] || exit 0
echo $$ > "pids/$EXP_NAME"
while [ ! -e release ]; do sleep 0.05; done"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    let grid = format!("i=0..{}", n - 1);
    run_bounded(dir, "exp-add", &["--grid", &grid]).success();
}

/// The pid of c0's command, once it has started.
fn c0_command(dir: &Dir) -> Option<i32> {
    read_pid(&dir.path().join("pids/c0"))
}

/// `PREFIX... TOOL exp ARGS...` in the temp dir, as `Dir::cmd` sets it up.
fn wrapped(dir: &Dir, prefix: &[&str], tool: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..]).arg(bin(tool)).arg("exp").args(args);
    cmd.current_dir(dir.path()).env_remove("EXP_DIR").env("NO_COLOR", "1");
    cmd
}

/// Whether `program ARGS` runs and succeeds here; else a note that `test`
/// is skipped.
fn can_run(program: &str, args: &[&str], test: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !ok {
        eprintln!("note: {test}: skipped, `{program} {}` does not work here", args.join(" "));
    }
    ok
}

/// The pids whose parent is `parent`.
fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    children
}

/// One config's `exp-status --json` line in `out`.
fn row(out: &Out, name: &str) -> serde_json::Value {
    out.json_lines()
        .into_iter()
        .find(|row| row["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {out:#?}"))
}

// ---------- defect 2: one hostname, two PID namespaces ----------

/// `unshare -p --fork --mount-proc TOOL exp ARGS`: a runner in a container
/// that shares the host's hostname (Docker `--network=host`).
fn in_pid_namespace(dir: &Dir, tool: &str, args: &[&str]) -> Command {
    wrapped(dir, &["unshare", "--pid", "--fork", "--mount-proc"], tool, args)
}

fn pid_namespaces_work(test: &str) -> bool {
    can_run("unshare", &["--pid", "--fork", "--mount-proc", "true"], test)
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
    gated_experiment(&dir, 3);
    // Runner A in its own PID namespace (its pid 1) takes c0 only.
    let mut a = Bg::of(in_pid_namespace(&dir, "exp-run", &["-j1", "--limit", "1", "--progress", "never"]));
    wait_for("c0 to start in the namespace", || c0_command(&dir).is_some());
    // Runners here know A is alive: --exclusive refuses, a plain run leaves c0 alone.
    run_bounded(&dir, "exp-run", &["--exclusive", "--progress", "never"]).code(4);
    run_bounded(&dir, "exp-run", &["--progress", "never"]).success();
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running", "{rows:#?}");
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 1);

    // A dies, its namespace with it: the kernel kills every process of it
    // before unshare learns that its child, A, is gone.
    let a_here = children_of(a.pid().as_raw()).into_iter().next().expect("unshare's child: runner A");
    kill(Pid::from_raw(a_here), Signal::SIGKILL).unwrap();
    wait_for("runner A to die", || a.exited().is_some());
    // Nothing tells that A is dead but its heartbeat: c0 is A's until it is stale.
    let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "1h"]);
    assert_eq!(row(out.success(), "c0")["status"], "running", "{out:#?}");
    wait_for("c0 recovered once A's heartbeat is older than 2s", || {
        let out = run_bounded(&dir, "exp-status", &["--json", "--stale-after", "2s"]);
        row(out.success(), "c0")["status"] == "todo"
    });
    touch(&dir, "release");
    run_bounded(&dir, "exp-run", &["--progress", "never"]).success();
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
    gated_experiment(&dir, 3);
    let a = Bg::run(&dir, &["-j1", "--limit", "1", "--progress", "never"]);
    wait_for("c0 to start", || c0_command(&dir).is_some());
    // From inside the namespace, A's pid means nothing: A is alive by its heartbeat.
    let status = Bg::of(in_pid_namespace(&dir, "exp-status", &["--json"])).finish();
    assert_eq!(row(status.success(), "c0")["status"], "running", "{status:#?}");
    let exclusive = Bg::of(in_pid_namespace(&dir, "exp-run", &["--exclusive", "--progress", "never"]));
    exclusive.finish().code(4);
    Bg::of(in_pid_namespace(&dir, "exp-run", &["--progress", "never"])).finish().success();
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "running", "{rows:#?}");
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    assert_eq!(runs(&dir)["c0"], 1, "c0 was not run twice");
    touch(&dir, "release");
    a.finish().success();
    assert_eq!(by_name(&dir)["c0"]["status"], "done");
    assert_eq!(runs(&dir)["c0"], 1);
}
