//! `exp-run` under a real Slurm: array tasks sharing or sharding one experiment, and `scancel` mid-run.
//!
//! They need a running cluster (`.ci/slurm-cluster start`). Without `sbatch`
//! or a reachable controller they pass with a note, unless `EXP_EXPECT_SLURM=1`
//! (set by CI) makes that a failure. Jobs run as root, on the one node or on
//! the nodes of `--nodes N` (which share this machine's filesystem), so they
//! work in the test's temp dir. The tests take turns (the node tests of
//! `crate::slurm_nodes` too): each waits for its own jobs to run side by
//! side, and the machine has only a few CPUs.
//!
//! Every wait polls files or `squeue` and is bounded; nothing sleeps and hopes.

use crate::interrupt::{alive, by_name, read_pid, with_status};
use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long a job may take to start, run and leave the queue on a busy machine.
pub(crate) const JOB_LIMIT: Duration = Duration::from_secs(120);

static TURN: Mutex<()> = Mutex::new(());

/// The cluster, held for one test.
pub(crate) struct Slurm {
    _turn: MutexGuard<'static, ()>,
    /// `SLURM_CONF` for the client commands when the environment names none.
    conf: Option<PathBuf>,
    /// The cluster's `slurm.conf`, wherever it was found.
    pub(crate) conf_path: PathBuf,
}

/// The cluster, or `None` (after a note) when there is none and none is expected.
pub(crate) fn slurm() -> Option<Slurm> {
    let turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match cluster() {
        Ok((conf, ours)) => {
            Some(Slurm { _turn: turn, conf: ours.then(|| conf.clone()), conf_path: conf.clone() })
        }
        Err(problem) if std::env::var("EXP_EXPECT_SLURM").as_deref() == Ok("1") => {
            panic!("EXP_EXPECT_SLURM=1 but {problem} (.ci/slurm-cluster start runs one)")
        }
        Err(problem) => {
            // Straight to stderr, past the test harness's capture, once.
            static NOTE: Once = Once::new();
            NOTE.call_once(|| {
                let note =
                    format!("note: Slurm tests skipped: {problem} (.ci/slurm-cluster start runs one)\n");
                let _ = std::io::stderr().write_all(note.as_bytes());
            });
            None
        }
    }
}

/// Whether a controller answers, asked once: its `slurm.conf` and whether the
/// clients must be given it as `SLURM_CONF` (the environment names none), or
/// what is missing.
fn cluster() -> &'static Result<(PathBuf, bool), String> {
    static CLUSTER: OnceLock<Result<(PathBuf, bool), String>> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        // Like a user who ran `.ci/slurm-cluster start` and nothing else: its
        // config when neither SLURM_CONF nor a system config says otherwise.
        let system = PathBuf::from("/etc/slurm/slurm.conf");
        let (conf, ours) = match std::env::var_os("SLURM_CONF") {
            Some(conf) => (PathBuf::from(conf), false),
            None if system.exists() => (system, false),
            None => {
                let dir = std::env::var_os("EXP_SLURM_DIR").unwrap_or("/tmp/exp-slurm".into());
                (PathBuf::from(dir).join("slurm.conf"), true)
            }
        };
        if which("sbatch").is_none() {
            return Err("sbatch is not on PATH".into());
        }
        // Without its config a Slurm client retries for a minute before it fails.
        if !conf.exists() {
            return Err(format!("{} does not exist", conf.display()));
        }
        // `scontrol ping` answers at once; sinfo would retry for seconds.
        let mut ping = Command::new("scontrol");
        if ours {
            ping.env("SLURM_CONF", &conf);
        }
        match ping.arg("ping").stdin(Stdio::null()).output() {
            Ok(out) if out.status.success() => Ok((conf, ours)),
            Ok(out) => Err(format!(
                "`scontrol ping`: {}",
                String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("")
            )),
            Err(e) => Err(format!("scontrol: {e}")),
        }
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| p.is_file())
}

impl Slurm {
    /// A Slurm client command (`sbatch`, `squeue`, `scancel`).
    pub(crate) fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        if let Some(conf) = &self.conf {
            cmd.env("SLURM_CONF", conf);
        }
        cmd.env_remove("EXP_DIR").stdin(Stdio::null());
        cmd
    }

    /// Submit an array job running `script` (saved as `TMP/NAME.sh`) in `dir`,
    /// its output in `TMP/slurm-JOB_TASK.out`. `--time` bounds a job that a
    /// failed test might leave behind.
    fn sbatch(&self, dir: &Dir, name: &str, array: &str, script: &str) -> Job<'_> {
        self.submit(dir, name, array, &[], script)
    }

    /// `sbatch` with more `options` (`--exclusive`, `--no-requeue`).
    pub(crate) fn submit(
        &self,
        dir: &Dir,
        name: &str,
        array: &str,
        options: &[&str],
        script: &str,
    ) -> Job<'_> {
        let path = dir.path().join(format!("{name}.sh"));
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        let out = Out::of(
            self.cmd("sbatch")
                .args(["--parsable", "--time=5", &format!("--job-name=exp-test-{name}")])
                .args(options)
                .arg(format!("--chdir={}", dir.path().display()))
                .arg(format!("--output={}/slurm-%A_%a.out", dir.path().display()))
                .arg(format!("--array={array}"))
                .arg(&path)
                .output()
                .expect("spawn sbatch"),
        );
        out.success();
        let id = out.stdout.trim().split(';').next().unwrap().to_string();
        assert!(id.parse::<u64>().is_ok(), "sbatch printed no job id: {out:?}");
        Job { slurm: self, id }
    }
}

/// A submitted job; dropping it cancels whatever is left of it, so a failing
/// test leaves nothing running (before its temp dir goes).
pub(crate) struct Job<'a> {
    slurm: &'a Slurm,
    pub(crate) id: String,
}

impl Job<'_> {
    /// Whether the job (every task of an array) has left the queue.
    pub(crate) fn gone(&self) -> bool {
        let out = Out::of(self.slurm.cmd("squeue").args(["-h", "-j", &self.id]).output().expect("squeue"));
        // a job purged from the controller's memory is an invalid id
        out.stdout.trim().is_empty() && (out.code == Some(0) || out.stderr.contains("Invalid job id"))
    }

    pub(crate) fn wait_gone(&self) {
        wait_long(&format!("job {} to leave the queue", self.id), || self.gone());
    }

    pub(crate) fn signal(&self, options: &[&str]) {
        self.slurm.cmd("scancel").args(options).arg(&self.id).status().expect("scancel");
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        let _ = self.slurm.cmd("scancel").arg(&self.id).stderr(Stdio::null()).status();
    }
}

/// `wait_for` with room for the scheduler on a busy machine.
pub(crate) fn wait_long(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + JOB_LIMIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {JOB_LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A word quoted for `sh`.
pub(crate) fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `exp-run DIR/exp ARGS` as a line of a job script.
pub(crate) fn exp_run(dir: &Dir, args: &str) -> String {
    format!("{} {} {args}", quote(&bin("exp-run")), quote(&dir.exp()))
}

/// The `NAME TASK` lines the commands appended to `TMP/log.txt`, by name.
fn ran_by(dir: &Dir) -> BTreeMap<String, Vec<String>> {
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default().lines() {
        let (name, task) = line.split_once(' ').unwrap_or((line, ""));
        ran.entry(name.to_string()).or_default().push(task.to_string());
    }
    ran
}

/// Wait for every array task to write `exit.TASK`, then for the job to
/// leave the queue; each task's exp-run must have exited 0.
pub(crate) fn wait_tasks(dir: &Dir, job: &Job, tasks: usize) {
    let exit = |task: usize| std::fs::read_to_string(dir.path().join(format!("exit.{task}"))).ok();
    wait_long(&format!("{tasks} tasks of job {} to finish", job.id), || {
        (0..tasks).all(|t| exit(t).is_some())
    });
    job.wait_gone();
    for task in 0..tasks {
        let output = std::fs::read_to_string(dir.path().join(format!("slurm-{}_{task}.out", job.id)));
        assert_eq!(exit(task).unwrap().trim(), "0", "task {task}'s exp-run; its output: {output:?}");
    }
}

/// After exp-run, a job script records its exit code for `wait_tasks`.
pub(crate) const RECORD_EXIT: &str = r#"echo $? > "exit.$SLURM_ARRAY_TASK_ID""#;

#[test]
fn array_tasks_share_one_experiment_and_run_each_config_once() {
    let Some(slurm) = slurm() else { return };
    let dir = Dir::new();
    // Each command waits for `go` (bounded), so the test can see two tasks
    // at work before letting them race through the rest.
    let names = shell_experiment(
        &dir,
        30,
        r#"echo "$EXP_NAME $SLURM_ARRAY_TASK_ID" >> log.txt
n=0; while [ ! -e go ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
sleep 0.2"#,
    );
    let job = slurm.sbatch(
        &dir,
        "share",
        "0-2",
        &format!("{}\n{RECORD_EXIT}", exp_run(&dir, "-j 1 --progress never")),
    );
    let tasks_at_work = || ran_by(&dir).values().flatten().cloned().collect::<BTreeSet<_>>();
    wait_long("two array tasks to start a config each", || tasks_at_work().len() >= 2);
    std::fs::write(dir.path().join("go"), "").unwrap();
    wait_tasks(&dir, &job, 3);

    let ran = ran_by(&dir);
    assert_eq!(ran.keys().cloned().collect::<Vec<_>>(), sorted(&names), "{ran:?}");
    for (name, tasks) in &ran {
        assert_eq!(tasks.len(), 1, "{name} ran {} times: {ran:?}", tasks.len());
    }
    assert!(tasks_at_work().len() >= 2, "{ran:?}");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), names.len(), "{rows:#?}");
    assert!(dir.path().join("exp/results_summary.csv").exists());
}

/// The README's shard hash: 64-bit FNV-1a of the name's bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[test]
fn array_tasks_shard_the_experiment_by_the_names_hash() {
    let Some(slurm) = slurm() else { return };
    let dir = Dir::new();
    let names = shell_experiment(&dir, 30, r#"echo "$EXP_NAME $SLURM_ARRAY_TASK_ID" >> log.txt"#);
    let run =
        exp_run(&dir, r#"--shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" -j 1 --progress never"#);
    let job = slurm.sbatch(&dir, "shard", "0-2", &format!("{run}\n{RECORD_EXIT}"));
    wait_tasks(&dir, &job, 3);

    let ran = ran_by(&dir);
    assert_eq!(ran.keys().cloned().collect::<Vec<_>>(), sorted(&names), "{ran:?}");
    let mut per_task = BTreeMap::new();
    for (name, tasks) in &ran {
        let expected = (fnv1a(name.as_bytes()) % 3).to_string();
        assert_eq!(tasks, std::slice::from_ref(&expected), "{name}: {ran:?}");
        *per_task.entry(expected).or_insert(0) += 1;
    }
    assert_eq!(per_task.len(), 3, "every task had a share: {per_task:?}");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), names.len(), "{rows:#?}");
}

#[test]
fn scancel_mid_run_leaves_configs_todo_and_a_later_job_finishes_them() {
    let Some(slurm) = slurm() else { return };
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("pids")).unwrap();
    // c0 finishes at once; the others block (until `quick` exists), having
    // written their shell's pid.
    let names = shell_experiment(
        &dir,
        6,
        r#"echo "$EXP_NAME" >> log.txt
if [ "$EXP_PARAM_I" -lt 1 ] || [ -e quick ]; then exit 0; fi
echo $$ > "pids/$EXP_NAME"
sleep 60 & wait"#,
    );
    // exec: the runner is the batch step itself, as Slurm users write it.
    let run = exp_run(&dir, "-j 2 --progress never --kill-after 5s");
    let job = slurm.sbatch(&dir, "killed", "0", &format!("exec {run}"));
    let started = || -> BTreeMap<String, i32> {
        std::fs::read_dir(dir.path().join("pids"))
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                Some((path.file_name()?.to_string_lossy().into_owned(), read_pid(&path)?))
            })
            .collect()
    };
    wait_long("two configs blocking and c0 done", || {
        started().len() == 2 && with_status(&by_name(&dir), "done").len() == 1
    });
    let started = started();

    // Slurm signals every process of the job: the runner, its watchdog, the commands.
    job.signal(&["--signal=TERM", "--full"]);
    job.wait_gone();
    let output =
        std::fs::read_to_string(dir.path().join(format!("slurm-{}_0.out", job.id))).unwrap_or_default();
    for (name, pid) in &started {
        wait_for(&format!("{name}'s command (pid {pid}) to die"), || !alive(*pid));
    }
    let rows = by_name(&dir);
    assert!(with_status(&rows, "failed").is_empty(), "{rows:#?}\n{output}");
    assert!(with_status(&rows, "running").is_empty(), "{rows:#?}\n{output}");
    assert_eq!(with_status(&rows, "done"), BTreeSet::from(["c0".to_string()]), "{rows:#?}");
    assert_eq!(with_status(&rows, "todo").len(), names.len() - 1, "{rows:#?}");
    for name in started.keys() {
        assert!(rows[name]["interruption_time"].is_string(), "{name}: {:#}\n{output}", rows[name]);
    }
    assert!(output.contains("state saved"), "the runner stopped in good order: {output}");

    // A later job finishes them all; only the interrupted ones ran twice.
    std::fs::write(dir.path().join("quick"), "").unwrap();
    let job = slurm.sbatch(&dir, "resume", "0", &format!("{run}\n{RECORD_EXIT}"));
    wait_tasks(&dir, &job, 1);
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), names.len(), "{rows:#?}");
    let ran = ran_by(&dir);
    for name in &names {
        let expected = if started.contains_key(name) { 2 } else { 1 };
        assert_eq!(ran[name].len(), expected, "{name}: {ran:?}");
    }
}

fn sorted(names: &[String]) -> Vec<String> {
    let mut names = names.to_vec();
    names.sort();
    names
}

/// The README's batch script, `examples/slurm-array.sbatch`, submitted as a
/// user would (its directives overridden to fit a one-node test cluster):
/// its tasks finish the experiment, each config once.
#[test]
fn the_example_batch_script_finishes_a_sweep() {
    let Some(slurm) = slurm() else { return };
    let dir = Dir::new();
    let names = shell_experiment(&dir, 12, r#"echo "$EXP_NAME $SLURM_ARRAY_TASK_ID" >> log.txt; sleep 0.1"#);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm-array.sbatch");
    let bins = bin("exp-run").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bins).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let out = Out::of(
        slurm
            .cmd("sbatch")
            .args(["--parsable", "--array=0-1", "--cpus-per-task=1", "--time=5"])
            .arg(format!("--chdir={}", dir.path().display()))
            .arg(format!("--output={}/slurm-%A_%a.out", dir.path().display()))
            .arg("--export=ALL")
            .env("EXP_DIR", dir.exp())
            .env("PATH", path)
            .arg(&script)
            .output()
            .expect("spawn sbatch"),
    );
    out.success();
    let job = Job { slurm: &slurm, id: out.stdout.trim().split(';').next().unwrap().to_string() };
    job.wait_gone();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), names.len(), "{rows:#?}");
    assert!(ran_by(&dir).values().all(|tasks| tasks.len() == 1), "{:?}", ran_by(&dir));
}
