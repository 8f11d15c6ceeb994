//! The Slurm cluster the Slurm tests share (`slurm.rs`, `slurm_nodes.rs`):
//! found once, held by one test at a time, jobs cancelled when dropped.

use super::{bin, quote, Dir, Out};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long a job may take to start, run and leave the queue on a busy machine.
pub const JOB_LIMIT: Duration = Duration::from_secs(120);

static TURN: Mutex<()> = Mutex::new(());

/// The cluster, held for one test.
pub struct Slurm {
    _turn: MutexGuard<'static, ()>,
    /// `SLURM_CONF` for the client commands when the environment names none.
    conf: Option<PathBuf>,
    /// The cluster's `slurm.conf`, wherever it was found.
    pub conf_path: PathBuf,
}

/// The cluster, or `None` (after a note) when there is none and none is expected.
pub fn slurm() -> Option<Slurm> {
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
    pub fn cmd(&self, program: &str) -> Command {
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
    pub fn sbatch(&self, dir: &Dir, name: &str, array: &str, script: &str) -> Job<'_> {
        self.submit(dir, name, array, &[], script)
    }

    /// `sbatch` with more `options` (`--exclusive`, `--no-requeue`).
    pub fn submit(&self, dir: &Dir, name: &str, array: &str, options: &[&str], script: &str) -> Job<'_> {
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
        out.succeeds();
        self.job(&out)
    }

    /// The job whose id `sbatch --parsable` printed.
    pub fn job(&self, sbatch: &Out) -> Job<'_> {
        let id = sbatch.stdout.trim().split(';').next().unwrap().to_string();
        assert!(id.parse::<u64>().is_ok(), "sbatch printed no job id: {sbatch:?}");
        Job { slurm: self, id }
    }
}

/// A submitted job; dropping it cancels whatever is left of it, so a failing
/// test leaves nothing running (before its temp dir goes).
pub struct Job<'a> {
    slurm: &'a Slurm,
    pub id: String,
}

impl Job<'_> {
    /// Whether the job (every task of an array) has left the queue.
    pub fn gone(&self) -> bool {
        let out = Out::of(self.slurm.cmd("squeue").args(["-h", "-j", &self.id]).output().expect("squeue"));
        // a job purged from the controller's memory is an invalid id
        out.stdout.trim().is_empty() && (out.code == Some(0) || out.stderr.contains("Invalid job id"))
    }

    pub fn wait_gone(&self) {
        wait_long(&format!("job {} to leave the queue", self.id), || self.gone());
    }

    pub fn signal(&self, options: &[&str]) {
        self.slurm.cmd("scancel").args(options).arg(&self.id).status().expect("scancel");
    }
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        let _ = self.slurm.cmd("scancel").arg(&self.id).stderr(Stdio::null()).status();
    }
}

/// `wait_for` with room for the scheduler on a busy machine.
pub fn wait_long(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + JOB_LIMIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out after {JOB_LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `exp-run DIR/exp ARGS` as a line of a job script.
pub fn exp_run(dir: &Dir, args: &str) -> String {
    format!("{} {} {args}", quote(&bin("exp-run")), quote(&dir.exp()))
}

/// Wait for every array task to write `exit.TASK`, then for the job to
/// leave the queue; each task's exp-run must have exited 0.
pub fn wait_tasks(dir: &Dir, job: &Job, tasks: usize) {
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
pub const RECORD_EXIT: &str = r#"echo $? > "exit.$SLURM_ARRAY_TASK_ID""#;
