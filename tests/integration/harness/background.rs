//! Tools in the background: a runner to signal, watch and reap, its output
//! collected as it comes; and polling for a condition, never sleeping and hoping.

use super::{Dir, Out};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A background `exp-run exp ARGS...` (or another tool), its stdout and
/// stderr collected as they come. Dropping it unfinished SIGKILLs it (its
/// watchdog then kills its commands), so a failing test leaves nothing behind.
pub struct Bg {
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Bg {
    pub fn spawn(dir: &Dir, tool: &str, args: &[&str]) -> Bg {
        let mut cmd = dir.cmd(tool);
        cmd.arg("exp").args(args);
        Bg::of(cmd)
    }

    /// Another program (a wrapper such as `prlimit`) in the test's
    /// directory, as `spawn` runs the tools.
    pub fn spawn_program(dir: &Dir, program: &str, args: &[&str]) -> Bg {
        let mut cmd = dir.program(program);
        cmd.args(args);
        Bg::of(cmd)
    }

    /// Any command in the background (a tool run through `unshare`,
    /// `setpriv` or `faketime`), with empty stdin.
    pub fn of(mut cmd: std::process::Command) -> Bg {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Bg { child: Some(child), stdout, stderr, readers }
    }

    /// `exp-run exp ARGS...` in the background.
    pub fn run(dir: &Dir, args: &[&str]) -> Bg {
        Bg::spawn(dir, "exp-run", args)
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the runner");
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Its stdout so far (a watcher's lines, as they come).
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Whether it has exited (without reaping it for good: see `finish`).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().expect("running").try_wait().expect("wait")
    }

    /// Wait for it to exit (a SIGKILLed runner: reaped, so its pid is gone
    /// as far as the next process can tell), failing after a minute.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut status = None;
        wait_for("the runner to exit", || {
            status = self.exited();
            status.is_some()
        });
        status.unwrap()
    }

    /// Wait for it to exit (failing after a generous minute) and collect its output.
    pub fn finish(self) -> Out {
        self.finish_within(Duration::from_secs(60))
    }

    /// Wait at most `limit` for it to exit, failing the test otherwise.
    pub fn finish_within(mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            if Instant::now() >= deadline {
                let stderr = self.stderr();
                drop(self);
                panic!("still running after {limit:?}; stderr so far:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        Out {
            code: std::os::unix::process::ExitStatusExt::signal(&status).map_or(status.code(), |_| None),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = from.read(&mut buffer) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    })
}

/// A process of any command, its output in files (no pipe to fill, no
/// reader thread: for a process that may block or outlive its reader);
/// `finish` fails after a minute rather than hanging, and dropping it
/// unfinished kills it.
pub struct Proc {
    child: Option<Child>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Proc {
    /// `cmd` (from `Dir::cmd` or `Dir::program`), its output in
    /// `TMP/LABEL.stdout` and `TMP/LABEL.stderr`.
    pub fn spawn(dir: &Dir, label: &str, mut cmd: Command, stdin: Stdio) -> Proc {
        let stdout = dir.path().join(format!("{label}.stdout"));
        let stderr = dir.path().join(format!("{label}.stderr"));
        cmd.stdin(stdin).stdout(File::create(&stdout).unwrap()).stderr(File::create(&stderr).unwrap());
        Proc { child: Some(cmd.spawn().expect("spawn")), stdout, stderr }
    }

    /// A tool on `./exp`, its stdin read from `input`.
    pub fn tool(dir: &Dir, tool: &str, args: &[&str], input: &Path) -> Proc {
        let mut cmd = dir.cmd(tool);
        cmd.arg("exp").args(args);
        Proc::spawn(dir, tool, cmd, Stdio::from(File::open(input).unwrap()))
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("running").id() as i32)
    }

    pub fn finish(mut self) -> Out {
        let deadline = Instant::now() + Duration::from_secs(60);
        let child = self.child.as_mut().expect("running");
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                drop(self);
                panic!("still running after a minute; stderr so far:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.child = None;
        let read = |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        Out {
            code: std::os::unix::process::ExitStatusExt::signal(&status).map_or(status.code(), |_| None),
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run a tool on `./exp` to its end, failing (not hanging) after a minute.
pub fn run_bounded(dir: &Dir, tool: &str, args: &[&str]) -> Out {
    Bg::spawn(dir, tool, args).finish()
}

/// Wait until `condition` holds, checking often; fail after a generous limit.
pub fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
