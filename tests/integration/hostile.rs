//! Hostile surroundings: FIFOs and symlinks planted wherever exp writes, a
//! runner started with its signals blocked or ignored, invalid UTF-8, huge
//! lines, a full disk and a read-only directory. Every tool must end (a
//! deadline, never a hang) with a clear exit code, and never write outside
//! the experiment.

use crate::harness::*;
use nix::sys::signal::{kill, Signal};
use std::fs::{self, File};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// ---------- helpers ----------

/// What a canary file holds: a JSON object, so a result read through a
/// planted link would show in the summary.
const CANARY: &str = "{\"canary\":true}\n";

/// A file and a folder outside the experiment, which nothing may touch.
struct Canary {
    file: PathBuf,
    dir: PathBuf,
}

impl Canary {
    fn new(dir: &Dir) -> Canary {
        let root = dir.path().join("canary");
        fs::create_dir_all(root.join("dir")).unwrap();
        fs::write(root.join("file"), CANARY).unwrap();
        fs::write(root.join("dir/keep"), "keep\n").unwrap();
        Canary { file: root.join("file"), dir: root.join("dir") }
    }

    fn assert_untouched(&self, case: &str) {
        assert!(fs::symlink_metadata(&self.file).unwrap().is_file(), "{case}: the canary file was replaced");
        assert_eq!(fs::read_to_string(&self.file).unwrap(), CANARY, "{case}: the canary file was written");
        let entries: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(entries, ["keep"], "{case}: files made in the canary folder");
        assert_eq!(fs::read_to_string(self.dir.join("keep")).unwrap(), "keep\n", "{case}: canary folder");
    }
}

/// What is planted where exp writes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plant {
    Fifo,
    /// A symlink to the canary file.
    LinkToFile,
    /// A symlink to the canary folder.
    LinkToDir,
}

fn plant(path: &Path, how: Plant, canary: &Canary) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path).unwrap(),
        Ok(_) => fs::remove_file(path).unwrap(),
        Err(_) => {}
    }
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    match how {
        Plant::Fifo => nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap(),
        Plant::LinkToFile => std::os::unix::fs::symlink(&canary.file, path).unwrap(),
        Plant::LinkToDir => std::os::unix::fs::symlink(&canary.dir, path).unwrap(),
    }
}

/// Whether what was planted at `path` is still there, as planted.
fn still_planted(path: &Path, how: Plant) -> bool {
    fs::symlink_metadata(path).is_ok_and(|meta| match how {
        Plant::Fifo => meta.file_type().is_fifo(),
        Plant::LinkToFile | Plant::LinkToDir => meta.file_type().is_symlink(),
    })
}

/// A file's text if it is a regular file (never opening a FIFO, which
/// would block the test).
fn regular_text(path: &Path) -> Option<String> {
    fs::symlink_metadata(path).ok().filter(|meta| meta.is_file())?;
    fs::read_to_string(path).ok()
}

/// Run `tool` on `./exp` to its end (failing after a minute rather than
/// hanging); its exit code must be one of `codes`, and it must not panic.
fn ends(dir: &Dir, case: &str, tool: &str, args: &[&str], codes: &[i32]) -> Out {
    let out = Bg::spawn(dir, tool, args).finish();
    assert!(
        out.code.is_some_and(|code| codes.contains(&code)),
        "{case}: {tool} {args:?}: expected exit {codes:?}\n{out:#?}"
    );
    assert!(!out.stderr.contains("panicked"), "{case}: {tool} {args:?}: {out:#?}");
    out
}

/// `./exp` with one config, `c1`, whose command writes to stdout and
/// stderr and ends with a result line.
fn one_config(dir: &Dir) {
    dir.init(&["--naming", "c{a}", "--shell", r#"echo out; echo err >&2; echo "{{\"r\":{a}}}""#], &[]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
}

type Run = (&'static str, &'static [&'static str], &'static [i32]);

// ---------- FIFOs and symlinks planted where exp writes ----------

/// In the experiment's own files and folders, exp refuses (exit 3) and
/// changes nothing; once the plant is gone, everything works again.
#[test]
fn planted_in_the_experiments_own_files_and_folders() {
    use Plant::*;
    let add: Run = ("exp-add", &["--grid", "a=2"], &[3]);
    let status: Run = ("exp-status", &[], &[3]);
    let run: Run = ("exp-run", &[], &[3]);
    let cases: &[(&str, &[Plant], &[Run])] = &[
        (".exp/journal.jsonl", &[Fifo, LinkToFile], &[add, status, run, ("exp-summary", &[], &[3])]),
        (".exp/lock", &[Fifo, LinkToFile], &[add, status, run]),
        (".exp/runners", &[LinkToDir, Fifo], &[add, status, run]),
        ("configs", &[LinkToDir, Fifo], &[add, status, run]),
        ("snapshots", &[LinkToDir, Fifo], &[("exp-snapshot", &[], &[3]), status]),
    ];
    for (at, plants, runs) in cases {
        for &how in *plants {
            let case = format!("{how:?} at {at}");
            let dir = Dir::new();
            let canary = Canary::new(&dir);
            one_config(&dir);
            let before = dir.state();
            let path = dir.exp().join(at);
            plant(&path, how, &canary);
            for (tool, args, codes) in *runs {
                ends(&dir, &case, tool, args, codes);
            }
            assert!(still_planted(&path, how), "{case}: replaced");
            assert_eq!(
                fs::read(dir.exp().join("experiment.yaml")).unwrap(),
                before.0,
                "{case}: state changed"
            );
            canary.assert_untouched(&case);

            // Gone, it is as if it had never been.
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path).unwrap(),
                _ => fs::remove_file(&path).unwrap(),
            }
            if *at == ".exp/runners" {
                // exp-run does not make it again: see a_missing_runners_folder_is_made_again.
                fs::create_dir(&path).unwrap();
            }
            ends(&dir, &case, "exp-run", &[], &[0]);
            assert_eq!(by_name(&dir)["c1"]["status"], "done", "{case}");
            canary.assert_untouched(&case);
        }
    }
}

/// `.exp/` is exp's own: a missing `.exp/runners/` (an experiment kept in
/// git, which drops empty folders, or `.exp/` removed) is made again.
#[test]
fn a_missing_runners_folder_is_made_again() {
    for gone in [".exp/runners", ".exp"] {
        let dir = Dir::new();
        one_config(&dir);
        fs::remove_dir_all(dir.exp().join(gone)).unwrap();
        ends(&dir, gone, "exp-run", &[], &[0]);
        assert_eq!(by_name(&dir)["c1"]["status"], "done", "{gone}");
    }
}

/// In a config's folder. Planted before its first run, the folder is moved
/// aside whole (`configs/.earlier-NAME-ID`), its files never opened; a
/// folder that is not one is refused. Planted before a later attempt, the
/// files exp makes before the command starts fail that config with an error
/// naming the file (exit 1), and the logs and result of the attempt before
/// are moved aside (`stdout.1.log`), never opened.
#[test]
fn planted_in_a_config_folder() {
    use Plant::*;
    let cases: &[(&str, &[Plant], bool, i32)] = &[
        ("stdout.log", &[Fifo, LinkToFile], false, 0),
        ("params.json", &[Fifo, LinkToFile], false, 0),
        ("result.json", &[Fifo, LinkToFile], false, 0),
        // Trust round 3: a writer never goes through what stands in a
        // folder's or file's place; the runner stops, the config back to todo.
        ("", &[LinkToDir, Fifo], false, 3),
        ("stdout.log", &[Fifo, LinkToFile], true, 0),
        ("stderr.log", &[Fifo, LinkToFile], true, 0),
        ("result.json", &[Fifo, LinkToFile], true, 0),
        ("params.json", &[Fifo, LinkToFile], true, 3),
        ("command.json", &[Fifo, LinkToFile], true, 3),
    ];
    for (file, plants, later, code) in cases {
        for &how in *plants {
            let at = if file.is_empty() { "configs/c1".to_string() } else { format!("configs/c1/{file}") };
            let when = if *later { "before attempt 2" } else { "before the first run" };
            let case = format!("{how:?} at {at} {when}");
            let dir = Dir::new();
            let canary = Canary::new(&dir);
            one_config(&dir);
            if *later {
                dir.run("exp-run", &[]).succeeds();
                dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c1\n").succeeds();
            }
            let path = dir.exp().join(&at);
            plant(&path, how, &canary);
            let run = ends(&dir, &case, "exp-run", &[], &[*code]);
            let row = &by_name(&dir)["c1"];
            let summary = ends(&dir, &case, "exp-summary", &["--ignore-missing"], &[0]);
            assert!(!summary.stdout.contains("canary"), "{case}: {summary:?}");
            ends(&dir, &case, "exp-status", &[], &[0]);
            // A config put back before it ever ran has no logs to show (2).
            let never_ran = *code == 3 && !*later;
            ends(&dir, &case, "exp-status", &["--log", "c1"], if never_ran { &[2] } else { &[0] });
            if *code == 0 {
                assert_eq!(row["status"], "done", "{case}: {row:#}");
                assert_ne!(regular_text(&path).as_deref(), Some(CANARY), "{case}");
                let aside = if *later {
                    let (stem, ext) = file.rsplit_once('.').unwrap();
                    dir.exp().join(format!("configs/c1/{stem}.1.{ext}"))
                } else {
                    earlier_folder(&dir, "c1").join(file)
                };
                assert!(still_planted(&aside, how), "{case}: kept aside as {aside:?}");
            } else {
                assert_eq!(row["status"], "todo", "{case}: {row:#}");
                assert!(run.stderr.contains(&at), "{case}: {run:#?}");
                assert!(still_planted(&path, how), "{case}: replaced");
            }
            canary.assert_untouched(&case);
        }
    }
}

/// Where results go after a run: `results_summary.csv` is replaced, never
/// written through; a result that is a FIFO or a link is ignored.
#[test]
fn planted_where_results_go() {
    use Plant::*;
    for how in [Fifo, LinkToFile] {
        // Planted before the run that writes the summary, and before exp-summary --save.
        let case = format!("{how:?} at results_summary.csv");
        let dir = Dir::new();
        let canary = Canary::new(&dir);
        one_config(&dir);
        let summary = dir.exp().join("results_summary.csv");
        plant(&summary, how, &canary);
        ends(&dir, &case, "exp-run", &[], &[0]);
        assert_eq!(regular_text(&summary).as_deref(), Some("name,a,r\nc1,1,1\n"), "{case}");
        plant(&summary, how, &canary);
        ends(&dir, &case, "exp-summary", &["--save"], &[0]);
        assert_eq!(regular_text(&summary).as_deref(), Some("name,a,r\nc1,1,1\n"), "{case}");
        canary.assert_untouched(&case);

        // A done config's result.json replaced by a plant: ignored, with a word for a FIFO.
        let case = format!("{how:?} at a done config's result.json");
        plant(&dir.exp().join("configs/c1/result.json"), how, &canary);
        let out = ends(&dir, &case, "exp-summary", &[], &[0]);
        assert!(!out.stdout.contains("canary") && !out.stdout.contains("c1,1,1"), "{case}: {out:?}");
        ends(&dir, &case, "exp-summary", &["--json"], &[0]);
        ends(&dir, &case, "exp-status", &["--log", "c1"], &[0]);
        ends(&dir, &case, "exp-snapshot", &[], &[0]);
        canary.assert_untouched(&case);
    }
}

/// What `exp-snapshot` reads of a running config (its status file, logs
/// and result) replaced by plants: it neither blocks nor follows them.
#[test]
fn planted_where_a_snapshot_reads() {
    use Plant::*;
    for how in [Fifo, LinkToFile] {
        let case = format!("{how:?} in a running config's folder");
        let dir = Dir::new();
        let canary = Canary::new(&dir);
        dir.init(
            &["--naming", "c{a}", "--shell", "echo $$ > pid.tmp && mv pid.tmp pid && exec sleep 30"],
            &[],
        );
        dir.run("exp-add", &["--grid", "a=1"]).succeeds();
        let runner = Bg::run(&dir, &["--kill-after", "1s"]);
        wait_pid(&dir, "pid");
        for file in ["status.txt", "stdout.log", "stderr.log", "result.json"] {
            plant(&dir.exp().join("configs/c1").join(file), how, &canary);
        }
        let out = ends(&dir, &case, "exp-snapshot", &[], &[0]);
        let folder = PathBuf::from(out.stdout.lines().last().expect("the snapshot folder"));
        for entry in fs::read_dir(&folder).unwrap() {
            let text = regular_text(&entry.unwrap().path()).expect("regular files");
            assert!(!text.contains("\"canary\""), "{case}: {text}");
        }
        runner.signal(Signal::SIGTERM);
        let out = runner.finish();
        assert_eq!(out.code, Some(143), "{case}: {out:#?}");
        canary.assert_untouched(&case);
    }
}

/// A `result.json` already in a config's folder when its first attempt
/// starts is not the command's: the result the command prints must win.
/// This happens without any hostility: `exp-clean --names` removes a
/// config but keeps its folder (unless --purge), and adding the same params
/// again gives the same name.
#[test]
fn a_leftover_result_json_is_not_taken_for_the_new_runs() {
    let dir = Dir::new();
    let script = r#"if [ -e second ]; then echo '{{"run":2}}'; else echo '{{"run":1}}'; fi"#;
    dir.init(&["--naming", "c{a}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    ends(&dir, "first", "exp-run", &[], &[0]);
    dir.run_stdin("exp-clean", &["--names", "-"], "c1\n").succeeds();
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    fs::write(dir.path().join("second"), "").unwrap();
    ends(&dir, "second", "exp-run", &[], &[0]);
    let summary = ends(&dir, "second", "exp-summary", &[], &[0]);
    assert_eq!(summary.stdout, "name,a,run\nc1,1,2\n", "{summary:#?}");

    let canary_dir = Dir::new();
    let canary = Canary::new(&canary_dir);
    for how in [Plant::Fifo, Plant::LinkToFile] {
        let dir = Dir::new();
        one_config(&dir);
        plant(&dir.exp().join("configs/c1/result.json"), how, &canary);
        ends(&dir, "planted", "exp-run", &[], &[0]);
        let summary = ends(&dir, "planted", "exp-summary", &[], &[0]);
        assert_eq!(summary.stdout, "name,a,r\nc1,1,1\n", "{how:?}: {summary:#?}");
    }
    canary.assert_untouched("planted result.json");
}

// ---------- signals blocked or ignored at start ----------

/// A runner whose parent blocked (or ignored) SIGINT, SIGTERM and SIGHUP
/// still stops on SIGTERM, puts the config back to todo, and gives its
/// commands a clean signal mask.
#[test]
fn a_runner_started_with_its_signals_blocked_or_ignored_still_stops() {
    if !python3("a_runner_started_with_its_signals_blocked_or_ignored_still_stops") {
        return;
    }
    let signals = "{signal.SIGTERM, signal.SIGINT, signal.SIGHUP}";
    for (how, setup) in [
        ("blocked", format!("signal.pthread_sigmask(signal.SIG_BLOCK, {signals})")),
        ("ignored", format!("[signal.signal(s, signal.SIG_IGN) for s in {signals}]")),
    ] {
        let dir = Dir::new();
        let script = "echo $$ > pid.tmp && mv pid.tmp pid && exec sleep 30";
        dir.init(&["--naming", "c{a}", "--shell", script], &[]);
        dir.run("exp-add", &["--grid", "a=1"]).succeeds();
        let code = format!("import signal, os, sys; {setup}; os.execvp(sys.argv[1], sys.argv[1:])");
        let mut wrapper = dir.program("python3");
        wrapper.arg("-c").arg(code).arg(bin("exp-run")).arg("exp");
        let runner = Proc::spawn(&dir, "exp-run", wrapper, Stdio::null());
        // The command once it is `sleep`: its signal mask and ignored signals.
        let mut status = String::new();
        wait_for("the command to start", || {
            let Some(pid) = read_pid(&dir.path().join("pid")) else { return false };
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            comm.trim() == "sleep"
        });
        kill(runner.pid(), Signal::SIGTERM).unwrap();
        let out = runner.finish();
        assert_eq!(out.code, Some(143), "{how}: {out:#?}");
        assert_eq!(by_name(&dir)["c1"]["status"], "todo", "{how}");
        // SIGHUP, SIGINT and SIGTERM (signal N is bit N-1) reach the command.
        for line in status.lines().filter(|line| line.starts_with("SigBlk") || line.starts_with("SigIgn")) {
            let bits = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(bits & 0x4003, 0, "{how}: the command's {line}");
        }
    }
}

/// `exp-run exp ARGS...` started with SIGCHLD ignored, as a parent may leave
/// it across exec: the kernel then reaps children unasked, and no wait sees
/// how they ended.
fn run_with_sigchld_ignored(dir: &Dir, args: &[&str]) -> Out {
    use nix::sys::signal::{signal, SigHandler};
    use std::os::unix::process::CommandExt;
    let mut cmd = dir.cmd("exp-run");
    cmd.arg("exp").args(args).stdin(Stdio::null());
    // SAFETY: sigaction is async-signal-safe, and the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| signal(Signal::SIGCHLD, SigHandler::SigIgn).map(drop).map_err(std::io::Error::from));
    }
    Out::of(cmd.output().expect("spawn"))
}

/// A runner started with SIGCHLD ignored still waits for what it starts:
/// `--setup`, the pool's commands, `--replay`.
#[test]
fn a_runner_started_with_sigchld_ignored_still_waits_for_its_commands() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}", "--shell", "test \"$X\" = 1"], &[]);
    dir.run("exp-add", &["--grid", "a=1,2"]).succeeds();
    let setup = run_with_sigchld_ignored(&dir, &["--setup", "echo X=1", "--limit", "1"]);
    setup.succeeds();
    assert_eq!(by_name(&dir)["c1"]["status"], "done", "the setup's X reached the command: {setup:#?}");
    let pool = run_with_sigchld_ignored(&dir, &["--env", "X=1"]);
    pool.succeeds();
    assert_eq!(by_name(&dir)["c2"]["status"], "done", "{pool:#?}");
    let replay = run_with_sigchld_ignored(&dir, &["--replay", "c1", "--env", "X=1"]);
    replay.succeeds();
    let failing = run_with_sigchld_ignored(&dir, &["--replay", "c2", "--env", "X=2"]);
    failing.fails_with(1);
}

// ---------- invalid UTF-8 ----------

/// Output that is not UTF-8 (in the logs and as the last stdout line) is
/// logged as it is and breaks nothing.
#[test]
fn invalid_utf8_output_breaks_nothing() {
    let dir = Dir::new();
    let script = r#"if [ {a} = 1 ]; then printf 'ok\n\377\376 bad\n'; printf '\377 err\n' >&2; printf '{{"r":1}}\n\377\376'; else printf '{{"r":"\377"}}\n\377'; fi"#;
    dir.init(&["--naming", "c{a}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "a=1,2"]).succeeds();
    ends(&dir, "run", "exp-run", &[], &[0]);
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
    ends(&dir, "status", "exp-status", &[], &[0]);
    let summary = ends(&dir, "summary", "exp-summary", &[], &[0]);
    summary.stdout_has("c1,1,1");
    let log = Proc::tool(&dir, "exp-status", &["--log", "c1"], Path::new("/dev/null"));
    let logged = log.stdout.clone();
    assert_eq!(log.finish().code, Some(0));
    let logged = fs::read(logged).unwrap();
    for bytes in [&b"ok\n\xff\xfe bad\n"[..], b"{\"r\":1}\n\xff\xfe", b"\xff err\n"] {
        assert!(logged.windows(bytes.len()).any(|w| w == bytes), "{:?}", String::from_utf8_lossy(&logged));
    }
    ends(&dir, "log", "exp-status", &["--log", "c2"], &[0]);
}

/// Params cannot hold invalid UTF-8: JSON lines with such bytes (in a
/// value, in a key, after valid lines) and such a `--grid` are refused
/// with exit 2, and nothing changes.
#[test]
fn invalid_utf8_params_are_refused_and_change_nothing() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["true"]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    let before = dir.state();
    for (i, input) in [
        &b"{\"a\":\"\xff\"}\n"[..],
        b"{\"\xff\":1}\n",
        b"{\"a\":2}\n{\"a\":\"x\xc3\"}\n",
        b"{\"a\":\"\xed\xa0\x80\"}\n",
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.path().join(format!("bad{i}.jsonl"));
        fs::write(&file, input).unwrap();
        let by_file =
            Proc::tool(&dir, "exp-add", &["-f", file.to_str().unwrap()], Path::new("/dev/null")).finish();
        assert_eq!(by_file.code, Some(2), "{input:?}: {by_file:#?}");
        by_file.stderr_has("UTF-8");
        let by_stdin = Proc::tool(&dir, "exp-add", &[], &file).finish();
        assert_eq!(by_stdin.code, Some(2), "{input:?}: {by_stdin:#?}");
        assert_eq!(dir.state(), before, "{input:?}");
    }
    let mut grid = dir.cmd("exp-add");
    grid.arg("exp")
        .arg("--grid")
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"a=\xff"));
    assert_eq!(Proc::spawn(&dir, "grid", grid, Stdio::null()).finish().code, Some(2));
    assert_eq!(dir.state(), before);
    assert_eq!(dir.status().len(), 1);
}

// ---------- huge lines ----------

/// A 5 MB JSON line is taken or refused cleanly, and the state still reads.
#[test]
fn a_five_megabyte_params_line() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["true"]);
    let input = dir.path().join("big.jsonl");
    fs::write(&input, format!("{{\"a\":1,\"big\":\"{}\"}}\n", "é".repeat(2_500_000))).unwrap();
    let out = Proc::tool(&dir, "exp-add", &[], &input).finish();
    assert!(matches!(out.code, Some(0 | 2)), "{out:#?}");
    ends(&dir, "status", "exp-status", &[], &[0]);
    if out.code == Some(0) {
        let rows = by_name(&dir);
        assert_eq!(rows["c1"]["params"]["big"].as_str().map(str::len), Some(5_000_000));
        // Too big for the environment of a command (EXP_PARAMS): the config
        // fails with a clear error rather than the run.
        ends(&dir, "run", "exp-run", &[], &[0, 1]);
        let row = &by_name(&dir)["c1"];
        assert!(row["status"] == "done" || row["status"] == "failed", "{row:#}");
        ends(&dir, "status", "exp-status", &[], &[0]);
    }
}

/// A command printing one 50 MB line without a newline: the run ends, and
/// status, summary and the log work.
#[test]
fn a_fifty_megabyte_output_line() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["sh", "-c", r"head -c 52428800 /dev/zero | tr '\0' x"]);
    dir.run("exp-add", &["--grid", "a=1"]).succeeds();
    ends(&dir, "run", "exp-run", &[], &[0]);
    assert_eq!(by_name(&dir)["c1"]["status"], "done");
    ends(&dir, "status", "exp-status", &[], &[0]);
    ends(&dir, "summary", "exp-summary", &[], &[0]);
    let log = ends(&dir, "log", "exp-status", &["--log", "c1"], &[0]);
    assert!(log.stdout.len() >= 50 << 20, "{}", log.stdout.len());
}

// ---------- a full disk ----------

/// A tmpfs mounted for a test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        fs::create_dir_all(at).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !unmounted {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Write `path` until the disk is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = File::create(path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while file.write_all(&chunk).and_then(|_| file.flush()).is_ok() {}
}

/// On a full disk exp-add exits 3 and changes nothing, a run ends with a
/// clear code, the state always loads, and with space again all works.
#[test]
fn a_full_disk() {
    let dir = Dir::new();
    let Some(_tmpfs) = Tmpfs::mount(&dir.exp(), "2m") else {
        eprintln!("note: cannot mount a tmpfs (not root?); skipping the full-disk test");
        return;
    };
    // Config 5 fills the disk itself, once, mid-run.
    let script = r#"if [ {a} = 5 ] && [ ! -e filled ]; then touch filled; cat /dev/zero > "$EXP_DIR/filler"; fi; echo "{{\"a\":{a}}}""#;
    dir.init(&["--naming", "c{a}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "a=1..3"]).succeeds();
    let filler = dir.exp().join("filler");
    fill(&filler);
    let before = dir.state();
    let out = ends(&dir, "full", "exp-add", &["--grid", "a=4..6"], &[3]);
    out.stderr_has("No space left");
    assert_eq!(dir.state(), before);
    assert_eq!(dir.status().len(), 3);
    let out = ends(&dir, "full", "exp-run", &[], &[0, 1, 3]);
    // One clear message, not the same error twice.
    assert!(out.stderr.lines().filter(|l| l.contains("No space left")).count() <= 1, "{out:#?}");
    assert_eq!(dir.status().len(), 3);

    fs::remove_file(&filler).unwrap();
    ends(&dir, "space again", "exp-add", &["--grid", "a=4..6"], &[0]);
    // The disk fills during the run.
    let out = ends(&dir, "filled mid-run", "exp-run", &["-j", "1"], &[0, 1, 3]);
    assert!(out.stderr.lines().filter(|l| l.contains("No space left")).count() <= 1, "{out:#?}");
    let rows = by_name(&dir);
    assert_eq!(rows.len(), 6, "{rows:#?}");
    assert!(with_status(&rows, "running").is_empty(), "{rows:#?}");
    // A config whose folder could not be prepared never started: it is
    // todo again with no attempt counted.
    let todo = with_status(&rows, "todo");
    assert!(!todo.is_empty(), "{rows:#?}");
    assert!(todo.iter().all(|name| rows[name]["attempts"] == 0), "{rows:#?}");
    fs::remove_file(&filler).unwrap();
    ends(&dir, "space again", "exp-run", &["--retry-failed"], &[0]);
    assert_eq!(with_status(&by_name(&dir), "done").len(), 6);
}

// ---------- a read-only directory ----------

/// An immutable experiment directory (then everything in it): exp-status
/// reads it (exit 0), exp-add exits 3 and changes nothing.
#[test]
fn a_read_only_directory() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{a}"], &["true"]);
    dir.run("exp-add", &["--grid", "a=1..3"]).succeeds();
    dir.run("exp-run", &[]).succeeds();
    dir.run("exp-add", &["--grid", "a=4"]).succeeds();
    for recursive in [false, true] {
        let case = if recursive { "chattr -R +i" } else { "chattr +i" };
        let before = dir.state();
        let immutable = if recursive { Immutable::set_all } else { Immutable::set };
        let Some(guard) = immutable(&dir.exp(), "a_read_only_directory") else {
            return;
        };
        ends(&dir, case, "exp-status", &[], &[0]);
        assert_eq!(dir.status().len(), 4, "{case}");
        ends(&dir, case, "exp-summary", &["--ignore-missing"], &[0]);
        ends(&dir, case, "exp-add", &["--grid", "a=5"], &[3]);
        assert_eq!(dir.state(), before, "{case}");
        if recursive {
            ends(&dir, case, "exp-run", &[], &[3]);
            assert_eq!(dir.state(), before, "{case}");
        }
        drop(guard);
    }
    ends(&dir, "writable again", "exp-add", &["--grid", "a=5"], &[0]);
    ends(&dir, "writable again", "exp-run", &[], &[0]);
    assert_eq!(with_status(&by_name(&dir), "done").len(), 5);
}
