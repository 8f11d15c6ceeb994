//! The experiment dir: each test gets its own temp dir, holding one
//! experiment at `./exp`, and runs the built binaries on it.

use super::Out;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A fresh temporary directory holding one experiment at `./exp`.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The experiment directory used by default: `TMP/exp`.
    pub fn exp(&self) -> PathBuf {
        self.path().join("exp")
    }

    /// A command for one of the exp binaries, run in the temp dir.
    pub fn cmd(&self, tool: &str) -> Command {
        self.program(bin(tool))
    }

    /// Any program run in the temp dir as the tools are: no `EXP_DIR`
    /// from the test's environment, no colour.
    pub fn program(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.path()).env_remove("EXP_DIR").env("NO_COLOR", "1");
        cmd
    }

    /// Run `tool` with `args` on `./exp`, with empty stdin.
    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        let mut cmd = self.cmd(tool);
        cmd.arg("exp").args(args).stdin(Stdio::null());
        Out::of(cmd.output().expect("spawn"))
    }

    /// Run `tool` with `args` on `./exp`, feeding `input` on stdin.
    pub fn run_stdin(&self, tool: &str, args: &[&str], input: &str) -> Out {
        use std::io::Write;
        let mut cmd = self.cmd(tool);
        cmd.arg("exp").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_string();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let output = child.wait_with_output().expect("wait");
        writer.join().unwrap();
        Out::of(output)
    }

    /// `exp-init exp -- ARGV...`, asserting success.
    pub fn init(&self, options: &[&str], argv: &[&str]) {
        let mut args: Vec<&str> = options.to_vec();
        if !argv.is_empty() {
            args.push("--");
            args.extend_from_slice(argv);
        }
        self.run("exp-init", &args).succeeds();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }
}

/// `PREFIX... TOOL exp ARGS...` (a tool run through `setpriv`, `unshare`
/// or `faketime`) in the temp dir, as `Dir::cmd` sets it up.
pub fn wrapped(dir: &Dir, prefix: &[&str], tool: &str, args: &[&str]) -> Command {
    let mut cmd = dir.program(prefix[0]);
    cmd.args(&prefix[1..]).arg(bin(tool)).arg("exp").args(args);
    cmd
}

/// `TOOL exp ARGS` as Unix user `uid` (group `uid`, no other groups).
pub fn as_user(dir: &Dir, uid: u32, tool: &str, args: &[&str]) -> Command {
    let (reuid, regid) = (format!("--reuid={uid}"), format!("--regid={uid}"));
    wrapped(dir, &["setpriv", &reuid, &regid, "--clear-groups"], tool, args)
}

/// A file of the repository: `examples/train.py`, `tests/fixtures/...`.
pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// An executable script at `folder/name`.
pub fn script(folder: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = folder.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A path quoted as one word for `sh`.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// An empty file at `TMP/relative`: a flag a command waits for.
pub fn touch(dir: &Dir, relative: &str) {
    std::fs::write(dir.path().join(relative), "").unwrap();
}

/// `TOOL exp ARGS | jq FILTER...`: jq's output (the tool must succeed).
pub fn through_jq(dir: &Dir, tool: &str, args: &[&str], filter: &[&str]) -> Out {
    let mut producer = dir.cmd(tool);
    let mut producer =
        producer.arg("exp").args(args).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().expect("spawn");
    let jq = jq()
        .args(filter)
        .stdin(producer.stdout.take().expect("piped"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jq");
    let out = Out::of(jq.wait_with_output().unwrap());
    assert!(producer.wait().unwrap().success(), "{tool} failed");
    out
}

/// The folder a config's first run moved aside: what an earlier config of
/// the same name left (`configs/.earlier-NAME-ID`).
pub fn earlier_folder(dir: &Dir, name: &str) -> PathBuf {
    let prefix = format!(".earlier-{name}-");
    std::fs::read_dir(dir.exp().join("configs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with(&prefix))
        .unwrap_or_else(|| panic!("no folder {prefix}* in configs/"))
}

/// Every tool, as a user would call it on an experiment with a param `i`:
/// none of these may change anything when the state is bad.
pub const EVERY_TOOL: &[(&str, &[&str])] = &[
    ("exp-status", &[]),
    ("exp-status", &["--json"]),
    ("exp-status", &["--counts", "--json"]),
    ("exp-add", &["--grid", "i=99"]),
    ("exp-run", &["--progress", "never"]),
    ("exp-run", &["--dry-run"]),
    ("exp-summary", &["--ignore-missing"]),
    ("exp-snapshot", &[]),
    ("exp-clean", &[]),
    ("exp-clean", &["--reset-failed"]),
];

/// The path of a built binary.
pub fn bin(tool: &str) -> PathBuf {
    match tool {
        "exp-init" => env!("CARGO_BIN_EXE_exp-init").into(),
        "exp-add" => env!("CARGO_BIN_EXE_exp-add").into(),
        "exp-run" => env!("CARGO_BIN_EXE_exp-run").into(),
        "exp-status" => env!("CARGO_BIN_EXE_exp-status").into(),
        "exp-summary" => env!("CARGO_BIN_EXE_exp-summary").into(),
        "exp-snapshot" => env!("CARGO_BIN_EXE_exp-snapshot").into(),
        "exp-clean" => env!("CARGO_BIN_EXE_exp-clean").into(),
        other => panic!("unknown tool {other}"),
    }
}

/// `PATH` with the built tools first, for scripts that call them by name
/// (the examples, a batch script).
pub fn path_with_tools() -> std::ffi::OsString {
    let bins = bin("exp-run").parent().unwrap().to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(bins).chain(std::env::split_paths(&rest))).unwrap()
}

/// `jq`, which the composition tests need (CI installs it).
pub fn jq() -> Command {
    Command::new("jq")
}
