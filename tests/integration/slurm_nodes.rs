//! `exp-run` on a Slurm cluster of several nodes that share one filesystem,
//! and lose one: a node killed mid-run, a node drained and its job requeued.
//!
//! They need the nodes `exp-node1..3` of `.ci/slurm-cluster start --nodes 3`:
//! each a network and UTS namespace of this machine (its own hostname and
//! address; the same PID namespace, boot id, clock and files), so exp tells
//! their runners apart by hostname and judges another node's runners by their
//! heartbeats alone. Without such a cluster they pass with a note, unless
//! `EXP_EXPECT_SLURM_NODES=3` (set by CI) makes that a failure. They take
//! turns with the other Slurm tests (`crate::slurm`).
//!
//! Every command appends its start and its end, with its config, attempt,
//! hostname and pid, to `TMP/runs.log`; the checks read that record against
//! exp's: each config done once, by a node that exp names, and no config ever
//! run twice at once (a killed node's attempts end when it was killed).
//!
//! Every wait polls files, `exp-status` or `sinfo` and is bounded; nothing
//! sleeps and hopes, and no timing is asserted.

use crate::harness::slurm::*;
use crate::harness::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::time::{Duration, SystemTime};

/// The nodes a test uses (one array task on each).
const NODES: usize = 3;

/// `--stale-after` of the runners here: twice their heartbeat interval (5s),
/// so a busy machine does not make a live runner look dead.
const STALE_AFTER: Duration = Duration::from_secs(10);

/// The command of every config: record its start, wait while `TMP/hold`
/// exists (bounded), record its end. On SIGTERM it records its end as `term`
/// and exits 143, as an interrupted command does.
const RECORDING: &str = r#"rec() ( echo "$1 $EXP_NAME $EXP_ATTEMPT $(uname -n) $$ $(date +%s.%N) $2" >> runs.log )
trap 'rec end term; exit 143' TERM
rec start
n=0; while [ -e hold ] && [ $n -lt 1500 ]; do sleep 0.1; n=$((n + 1)); done
sleep 0.2
rec end"#;

/// The cluster, held for one test, with its nodes.
struct Cluster {
    slurm: Slurm,
    /// `EXP_SLURM_DIR` of `.ci/slurm-cluster`: where it keeps the cluster.
    dir: PathBuf,
    nodes: Vec<String>,
}

/// The cluster, or `None` (after a note) when there is none of several
/// nodes and none is expected.
fn cluster() -> Option<Cluster> {
    let slurm = slurm()?;
    match nodes(&slurm) {
        Ok((dir, nodes)) => {
            let cluster = Cluster { slurm, dir, nodes };
            cluster.wait_idle();
            Some(cluster)
        }
        Err(problem) if std::env::var("EXP_EXPECT_SLURM_NODES").is_ok_and(|n| !n.is_empty() && n != "0") => {
            panic!(
                "EXP_EXPECT_SLURM_NODES is set but {problem} (.ci/slurm-cluster start --nodes 3 runs them)"
            )
        }
        Err(problem) => {
            static NOTE: Once = Once::new();
            NOTE.call_once(|| {
                let note = format!(
                    "note: Slurm node tests skipped: {problem} (.ci/slurm-cluster start --nodes 3 runs them)\n"
                );
                let _ = std::io::stderr().write_all(note.as_bytes());
            });
            None
        }
    }
}

/// The script's directory and its namespaced nodes (`exp-nodeK`), when
/// there are enough of them and Slurm knows them.
fn nodes(slurm: &Slurm) -> Result<(PathBuf, Vec<String>), String> {
    let dir = slurm.conf_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let listed = std::fs::read_to_string(dir.join("nodes")).map_err(|_| {
        format!("the cluster of {} was not started by .ci/slurm-cluster", slurm.conf_path.display())
    })?;
    let nodes: Vec<String> = listed
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with("exp-node"))
        .map(str::to_string)
        .collect();
    if nodes.len() < NODES {
        return Err(format!("the cluster has {} namespaced nodes, not {NODES}", nodes.len()));
    }
    let known = Out::of(slurm.cmd("sinfo").args(["-h", "-N", "-o", "%N"]).output().expect("sinfo"));
    let known: BTreeSet<&str> = known.stdout.lines().map(str::trim).collect();
    if let Some(missing) = nodes.iter().find(|node| !known.contains(node.as_str())) {
        return Err(format!("Slurm does not know node {missing}"));
    }
    Ok((dir, nodes))
}

impl Cluster {
    /// `.ci/slurm-cluster ARGS` on this cluster, asserting success.
    fn script(&self, args: &[&str]) -> Out {
        let out = Out::of(self.script_command(args).output().expect("run .ci/slurm-cluster"));
        out.succeeds();
        out
    }

    fn script_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(repo(".ci/slurm-cluster"));
        cmd.args(args).env("EXP_SLURM_DIR", &self.dir).stdin(Stdio::null());
        cmd
    }

    /// Slurm's state of `node` (`idle`, `alloc`, `down*`, `drain`...).
    fn state(&self, node: &str) -> String {
        let out =
            Out::of(self.slurm.cmd("sinfo").args(["-h", "-n", node, "-o", "%t"]).output().expect("sinfo"));
        out.stdout.trim().to_string()
    }

    /// Wait until every node is idle: up, and nothing of an earlier test left on it.
    fn wait_idle(&self) {
        wait_long("every node to be idle", || self.nodes.iter().all(|node| self.state(node) == "idle"));
    }

    /// Which node runs each task of `job`, by task id.
    fn tasks(&self, job: &Job) -> BTreeMap<String, String> {
        let out = Out::of(
            self.slurm.cmd("squeue").args(["-h", "-j", &job.id, "-o", "%i %N"]).output().expect("squeue"),
        );
        out.stdout
            .lines()
            .filter_map(|line| line.split_once(' '))
            .filter_map(|(id, node)| Some((id.split_once('_')?.1.to_string(), node.trim().to_string())))
            .collect()
    }
}

/// Runs its closure when dropped, to put a node back however the test ends
/// (so the closure must not panic).
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// One attempt of a config, as its command recorded it.
#[derive(Debug, Clone)]
struct Attempt {
    name: String,
    attempt: u32,
    host: String,
    pid: i32,
    start: f64,
    /// When it recorded its end; `None` while it runs, or if it was killed.
    end: Option<f64>,
    /// It ended on SIGTERM (interrupted), not by finishing.
    term: bool,
}

/// The attempts recorded in `TMP/runs.log`, in order of start.
fn attempts(dir: &Dir) -> Vec<Attempt> {
    let text = std::fs::read_to_string(dir.path().join("runs.log")).unwrap_or_default();
    let mut attempts: Vec<Attempt> = Vec::new();
    // only whole lines: a command may be writing the last one
    for line in text.split_inclusive('\n').filter(|line| line.ends_with('\n')) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [what, name, attempt, host, pid, time, ref rest @ ..] = fields[..] else {
            panic!("a bad line in runs.log: {line:?}")
        };
        let (attempt, pid, time) = (attempt.parse().unwrap(), pid.parse().unwrap(), time.parse().unwrap());
        match what {
            "start" => attempts.push(Attempt {
                name: name.to_string(),
                attempt,
                host: host.to_string(),
                pid,
                start: time,
                end: None,
                term: false,
            }),
            "end" => {
                let started = attempts
                    .iter_mut()
                    .find(|a| a.name == name && a.attempt == attempt && a.host == host && a.pid == pid)
                    .unwrap_or_else(|| panic!("an end with no start: {line:?}"));
                started.end = Some(time);
                started.term = rest == ["term"];
            }
            _ => panic!("a bad line in runs.log: {line:?}"),
        }
    }
    attempts
}

/// The attempts still running (or killed), by host.
fn running_by_host(attempts: &[Attempt]) -> BTreeMap<String, Vec<Attempt>> {
    let mut running: BTreeMap<String, Vec<Attempt>> = BTreeMap::new();
    for attempt in attempts.iter().filter(|a| a.end.is_none()) {
        running.entry(attempt.host.clone()).or_default().push(attempt.clone());
    }
    running
}

/// Wait until `count` commands run, on `NODES` distinct nodes; them, by host.
fn wait_attempts_running(dir: &Dir, count: usize) -> BTreeMap<String, Vec<Attempt>> {
    wait_long(&format!("{count} commands running on {NODES} nodes"), || {
        let running = running_by_host(&attempts(dir));
        running.len() == NODES && running.values().map(Vec::len).sum::<usize>() == count
    });
    running_by_host(&attempts(dir))
}

/// No config ran twice at once: the attempts of each config, in order of
/// start, each ended before the next began. An attempt with no end must be
/// on a node in `killed` (node -> when `kill-node` returned).
fn assert_never_twice_at_once(attempts: &[Attempt], killed: &BTreeMap<String, f64>) {
    let mut by_config: BTreeMap<&str, Vec<(f64, f64, &Attempt)>> = BTreeMap::new();
    for a in attempts {
        let end = a.end.or_else(|| killed.get(&a.host).copied()).unwrap_or_else(|| {
            panic!(
                "{} attempt {} on {} never ended, and its node was not killed: {a:?}",
                a.name, a.attempt, a.host
            )
        });
        by_config.entry(&a.name).or_default().push((a.start, end, a));
    }
    for (name, mut spans) in by_config {
        spans.sort_by(|x, y| x.0.total_cmp(&y.0));
        for pair in spans.windows(2) {
            let ((_, end, earlier), (start, _, later)) = (pair[0], pair[1]);
            assert!(end <= start, "{name} ran twice at once:\n  {earlier:?}\n  {later:?}");
        }
    }
}

/// Each config finished exactly once (a recorded end that was not an
/// interruption), and is done in exp's eyes; the finishing attempts, by name.
fn assert_each_done_once(dir: &Dir, names: &[String], attempts: &[Attempt]) -> BTreeMap<String, Attempt> {
    let mut finished: BTreeMap<String, Attempt> = BTreeMap::new();
    for a in attempts.iter().filter(|a| a.end.is_some() && !a.term) {
        if let Some(earlier) = finished.insert(a.name.clone(), a.clone()) {
            panic!("{} finished twice:\n  {earlier:?}\n  {a:?}", a.name);
        }
    }
    let expected: BTreeSet<String> = names.iter().cloned().collect();
    assert_eq!(finished.keys().cloned().collect::<BTreeSet<_>>(), expected, "{attempts:#?}");
    let rows = by_name(dir);
    assert_eq!(with_status(&rows, "done"), expected, "{rows:#?}");
    finished
}

/// The records name the node each config ran on. While configs run, each
/// one's claim (`runner.host` in `exp-status --json`) names the node its
/// command runs on, and each runner's registration (`.exp/runners/*.json`,
/// whose mtime is its heartbeat) names its node.
fn assert_claims_name_their_nodes(dir: &Dir, running: &BTreeMap<String, Vec<Attempt>>) {
    let rows = by_name(dir);
    for attempt in running.values().flatten() {
        let row = &rows[&attempt.name];
        assert_eq!(row["status"], "running", "{row:#}");
        assert_eq!(row["runner"]["host"], attempt.host.as_str(), "{}'s claim: {row:#}", attempt.name);
    }
    let registered: BTreeSet<String> = registrations(dir).into_values().collect();
    let hosts: BTreeSet<String> = running.keys().cloned().collect();
    assert!(
        registered.is_superset(&hosts),
        "runners registered on {registered:?}, commands run on {hosts:?}"
    );
}

/// Once done, `exp-status --json`'s `host` (the host of a config's latest
/// attempt) names the node that finished the config. Checked where exp gives
/// it: once every exp-status has it, make it required (`&row["host"]`).
fn assert_done_names_its_node(dir: &Dir, finished: &BTreeMap<String, Attempt>) {
    for (name, row) in by_name(dir) {
        assert_eq!(row["host"], finished[&name].host.as_str(), "{name}: {row:#}");
    }
}

/// The runners' registrations: file -> host.
fn registrations(dir: &Dir) -> BTreeMap<PathBuf, String> {
    let Ok(entries) = std::fs::read_dir(dir.exp().join(".exp/runners")) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            if path.extension()? != "json" {
                return None;
            }
            let info: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
            Some((path, info["host"].as_str()?.to_string()))
        })
        .collect()
}

fn now() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Wait for the array tasks `tasks` of `job` to record their exit code: 0
/// (their exp-run succeeded).
fn wait_exits(dir: &Dir, job: &Job, tasks: &[String]) {
    let exit = |task: &str| std::fs::read_to_string(dir.path().join(format!("exit.{task}"))).ok();
    wait_long(&format!("tasks {tasks:?} of job {} to finish", job.id), || {
        tasks.iter().all(|t| exit(t).is_some())
    });
    for task in tasks {
        let output = std::fs::read_to_string(dir.path().join(format!("slurm-{}_{task}.out", job.id)));
        assert_eq!(exit(task).unwrap().trim(), "0", "task {task}'s exp-run; its output: {output:?}");
    }
}

/// Issue 15: an array of one task per node (`--exclusive`) shares one
/// experiment over the nodes: every config done once, every node ran some,
/// and exp's records name the node of each config (its claim while it runs,
/// each runner's registration, and `exp-status`'s `host` once done).
#[test]
fn an_exclusive_array_spreads_one_experiment_over_the_nodes() {
    let Some(cluster) = cluster() else { return };
    let dir = Dir::new();
    let names = shell_experiment(&dir, 12, RECORDING);
    touch(&dir, "hold");
    let run = exp_run(&dir, "-j 2 --progress never");
    let job = cluster.slurm.submit(&dir, "spread", "0-2", &["--exclusive"], &format!("{run}\n{RECORD_EXIT}"));
    // Each runner claims a config per slot, and holds them.
    let running = wait_attempts_running(&dir, 2 * NODES);
    for (host, attempts) in &running {
        assert!(cluster.nodes.contains(host), "a command ran on {host}, not a node: {running:#?}");
        assert_eq!(attempts.len(), 2, "one task, two slots, on each node: {running:#?}");
    }
    assert_claims_name_their_nodes(&dir, &running);
    std::fs::remove_file(dir.path().join("hold")).unwrap();
    wait_tasks(&dir, &job, NODES);

    let attempts = attempts(&dir);
    let finished = assert_each_done_once(&dir, &names, &attempts);
    assert_eq!(attempts.len(), names.len(), "no config started twice: {attempts:#?}");
    assert_never_twice_at_once(&attempts, &BTreeMap::new());
    let hosts: BTreeSet<&String> = finished.values().map(|a| &a.host).collect();
    assert_eq!(hosts.len(), NODES, "every node ran some: {finished:#?}");
    assert_done_names_its_node(&dir, &finished);
    assert!(dir.exp().join("results_summary.csv").exists());
}

/// Issue 15: the node running the most configs dies mid-run (every process
/// at once). Slurm sees it go down; its runner's heartbeat stops; once it is
/// older than `--stale-after` the surviving runners take its claims back and
/// finish everything, each config done once and never run twice at once.
#[test]
fn a_dead_nodes_configs_are_recovered_by_the_other_nodes() {
    kill_the_busiest_node(Release::AfterStale);
}

/// The same, but the survivors run out of work before the dead runner's
/// heartbeat is older than `--stale-after`: each survivor exited 0 ("0
/// todo"), leaving the dead node's configs `running` under its claim until
/// another runner started, and the array ended with them undone. A runner
/// with nothing left now waits for another host's runner to beat once more
/// (it lives) or to go stale (its claims are taken over).
#[test]
fn a_dead_nodes_configs_are_recovered_even_when_the_others_run_out_of_work_first() {
    kill_the_busiest_node(Release::AtOnce);
}

/// When the commands held by `TMP/hold` may finish, after the kill.
#[derive(PartialEq)]
enum Release {
    /// once the dead runner's heartbeat is older than `--stale-after`
    AfterStale,
    /// at once: the survivors run out of work before that
    AtOnce,
}

fn kill_the_busiest_node(release: Release) {
    let Some(cluster) = cluster() else { return };
    let dir = Dir::new();
    let names = shell_experiment(&dir, 18, RECORDING);
    touch(&dir, "hold");
    // Task K runs K+1 slots, so one node runs the most; --no-requeue: the
    // dead node's task must not come back as a new runner.
    let stale = format!("--stale-after {}s", STALE_AFTER.as_secs());
    let run = exp_run(&dir, &format!(r#"-j "$((SLURM_ARRAY_TASK_ID + 1))" {stale} --progress never"#));
    let options = ["--exclusive", "--no-requeue"];
    let job = cluster.slurm.submit(&dir, "dead", "0-2", &options, &format!("{run}\n{RECORD_EXIT}"));
    let running = wait_attempts_running(&dir, 1 + 2 + 3);
    let (victim, lost) = running.iter().max_by_key(|(_, attempts)| attempts.len()).unwrap();
    let (victim, lost) = (victim.clone(), lost.clone());
    assert_eq!(lost.len(), 3, "{running:#?}");
    let tasks = cluster.tasks(&job);
    let survivors: Vec<String> =
        tasks.iter().filter(|(_, node)| **node != victim).map(|(t, _)| t.clone()).collect();
    assert_eq!(survivors.len(), NODES - 1, "{tasks:?}");
    let (heartbeat, _) = registrations(&dir)
        .into_iter()
        .find(|(_, host)| *host == victim)
        .unwrap_or_else(|| panic!("no runner registered on {victim}"));

    let revive = victim.clone();
    let _revive = Finally(|| {
        let _ = cluster.script_command(&["start-node", &revive]).stderr(Stdio::null()).status();
    });
    cluster.script(&["kill-node", &victim]);
    let killed = BTreeMap::from([(victim.clone(), now())]);
    let beat = std::fs::metadata(&heartbeat).unwrap().modified().unwrap();
    for attempt in &lost {
        assert!(!alive(attempt.pid), "{attempt:?} outlived its node");
    }
    if release == Release::AtOnce {
        std::fs::remove_file(dir.path().join("hold")).unwrap();
    }
    // `*`: not responding (DOWN follows, a SlurmdTimeout later).
    wait_long(&format!("Slurm to hear no more from {victim}"), || {
        let state = cluster.state(&victim);
        state.ends_with('*') || state.starts_with("down")
    });
    if release == Release::AfterStale {
        // The survivors, busy, cannot have taken the claims yet: they look
        // for dead claims when they run out of work.
        wait_long(&format!("{victim}'s heartbeat to be older than {STALE_AFTER:?}"), || {
            beat.elapsed().is_ok_and(|age| age > STALE_AFTER + Duration::from_secs(1))
        });
        let now_beat =
            std::fs::metadata(&heartbeat).expect("the dead runner's registration stays").modified().unwrap();
        assert_eq!(now_beat, beat, "the dead runner's heartbeat stopped");
        let rows = by_name(&dir);
        for attempt in &lost {
            assert_eq!(rows[&attempt.name]["runner"]["host"], victim.as_str(), "{:#}", rows[&attempt.name]);
        }
        std::fs::remove_file(dir.path().join("hold")).unwrap();
    }

    wait_long("every config done", || with_status(&by_name(&dir), "done").len() == names.len());
    wait_exits(&dir, &job, &survivors);
    // Back from the dead, its task ends (NODE_FAIL), not requeued.
    cluster.script(&["start-node", &victim]);
    job.wait_gone();

    let attempts = attempts(&dir);
    assert_never_twice_at_once(&attempts, &killed);
    let finished = assert_each_done_once(&dir, &names, &attempts);
    for attempt in &lost {
        let redone = &finished[&attempt.name];
        assert_ne!(redone.host, victim, "{redone:?}");
        assert!(redone.attempt > attempt.attempt, "{attempt:?} then {redone:?}");
    }
    assert_done_names_its_node(&dir, &finished);
}

/// Issue 15: a node is drained and its task requeued (`scontrol update
/// state=drain`, `scontrol requeue`): its runner gets SIGTERM and puts its
/// configs back to todo, and the other nodes finish them.
#[test]
fn a_drained_nodes_configs_go_back_to_todo_and_finish_elsewhere() {
    let Some(cluster) = cluster() else { return };
    let dir = Dir::new();
    let names = shell_experiment(&dir, 12, RECORDING);
    touch(&dir, "hold");
    let run = exp_run(&dir, "-j 2 --progress never");
    let job = cluster.slurm.submit(&dir, "drain", "0-2", &["--exclusive"], &format!("{run}\n{RECORD_EXIT}"));
    let running = wait_attempts_running(&dir, 2 * NODES);
    let drained = running.keys().next().unwrap().clone();
    let lost = running[&drained].clone();
    let tasks = cluster.tasks(&job);
    let (task, _) = tasks.iter().find(|(_, node)| **node == drained).unwrap();
    let survivors: Vec<String> = tasks.keys().filter(|t| *t != task).cloned().collect();

    let resume = drained.clone();
    let _resume = Finally(|| {
        let _ = cluster
            .slurm
            .cmd("scontrol")
            .args(["update", &format!("nodename={resume}"), "state=resume"])
            .stderr(Stdio::null())
            .status();
    });
    let scontrol =
        |args: &[&str]| Out::of(cluster.slurm.cmd("scontrol").args(args).output().expect("scontrol"));
    scontrol(&["update", &format!("nodename={drained}"), "state=drain", "reason=exp-test"]).succeeds();
    scontrol(&["requeue", &format!("{}_{task}", job.id)]).succeeds();

    // Its runner stops its commands, puts their configs back, and leaves.
    wait_long(&format!("the configs of {drained} to be back to todo"), || {
        let rows = by_name(&dir);
        lost.iter().all(|a| rows[&a.name]["status"] == "todo")
    });
    let rows = by_name(&dir);
    for attempt in &lost {
        assert!(rows[&attempt.name]["interruption_time"].is_string(), "{:#}", rows[&attempt.name]);
    }
    let interrupted = attempts(&dir);
    for attempt in &lost {
        let now = interrupted.iter().find(|a| a.pid == attempt.pid && a.name == attempt.name).unwrap();
        assert!(now.term, "{attempt:?} got SIGTERM: {now:?}");
    }
    wait_long(&format!("the runner of {drained} to leave"), || {
        !registrations(&dir).values().any(|host| *host == drained)
    });
    assert!(cluster.state(&drained).starts_with("dr"), "{drained} is drained: {}", cluster.state(&drained));

    std::fs::remove_file(dir.path().join("hold")).unwrap();
    wait_long("every config done", || with_status(&by_name(&dir), "done").len() == names.len());
    wait_exits(&dir, &job, &survivors);
    // The requeued task waits for its begin time: it is not needed.
    job.signal(&[]);
    job.wait_gone();

    let attempts = attempts(&dir);
    assert_never_twice_at_once(&attempts, &BTreeMap::new());
    let finished = assert_each_done_once(&dir, &names, &attempts);
    for attempt in &lost {
        let redone = &finished[&attempt.name];
        assert_ne!(redone.host, drained, "{redone:?}");
        assert!(redone.attempt > attempt.attempt, "{attempt:?} then {redone:?}");
    }
    assert_done_names_its_node(&dir, &finished);
}
