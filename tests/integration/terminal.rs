//! What people see: plain lines with a counter and the time off a terminal,
//! `--status-every`, colour (`--color`, `NO_COLOR`), and, under a real
//! pseudo-terminal (util-linux `script`), exp-run's bars and the progress
//! line of long exp-add and exp-summary calls.

use crate::harness::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ESC: char = '\x1b';

/// `[n/N] HH:MM:SS REST` after the program's name: (n, N, REST), REST
/// without the rate and ETA that follow the time once a config finished.
fn counted(line: &str) -> Option<(usize, usize, &str)> {
    let rest = line.strip_prefix("exp-run: [")?;
    let (counter, rest) = rest.split_once("] ")?;
    let (n, total) = counter.split_once('/')?;
    let (time, rest) = rest.split_once(' ')?;
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = time.split(':').collect();
    (parts.len() == 3 && parts.iter().all(|p| digits(p))).then_some(())?;
    let rest = match rest.split_once(' ') {
        Some((rate, after)) if rate.ends_with("/min") => after,
        _ => rest,
    };
    let rest = match rest.strip_prefix("ETA ") {
        Some(eta) => eta.split_once(' ')?.1,
        None => rest,
    };
    Some((n.parse().ok()?, total.parse().ok()?, rest))
}

fn still_running(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("still running")).collect()
}

// ---------- off a terminal ----------

#[test]
fn plain_lines_carry_a_counter_and_the_time() {
    let dir = Dir::new();
    // n2 fails on its first attempt only.
    sweep(
        &dir,
        r#"test {n} -ne 2 || test -e "$EXP_CONFIG_DIR/again" || (touch "$EXP_CONFIG_DIR/again"; exit 1)"#,
        3,
    );
    let out = dir.run("exp-run", &["-j2", "--retries", "1"]);
    out.succeeds().stderr_lacks(ESC);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let (closing, events) = lines.split_last().unwrap();
    assert!(closing.starts_with("exp-run: 3 done, 0 failed"), "{out:?}");
    let mut finished = Vec::new();
    for line in events {
        let (n, total, rest) =
            counted(line).unwrap_or_else(|| panic!("no counter and time: {line:?}\n{out:?}"));
        assert_eq!(total, 3, "{line:?}");
        if rest.starts_with("done ") {
            finished.push(n);
        }
    }
    assert_eq!(finished, [1, 2, 3], "{out:?}");
    let failed = events.iter().find(|l| l.contains("failed n2")).unwrap_or_else(|| panic!("{out:?}"));
    let retry =
        events.iter().find(|l| l.contains("retrying n2, attempt 2/2")).unwrap_or_else(|| panic!("{out:?}"));
    // A failure that is retried has not finished yet.
    assert_eq!(counted(failed).unwrap().0, counted(retry).unwrap().0, "{out:?}");
}

#[test]
fn status_every_names_what_is_still_running() {
    let dir = Dir::new();
    sweep(&dir, "sleep 3", 1);
    let out = dir.run("exp-run", &["--status-every", "1s"]);
    out.succeeds();
    let still = still_running(&out.stderr);
    assert!(!still.is_empty(), "{out:?}");
    for line in still {
        let (n, total, rest) = counted(line).unwrap_or_else(|| panic!("{line:?}"));
        assert_eq!((n, total), (0, 1), "{line:?}");
        assert!(rest.starts_with("still running: n1 ("), "{line:?}");
    }
}

#[test]
fn status_every_caps_its_list() {
    let dir = Dir::new();
    sweep(&dir, "sleep 2", 7);
    let out = dir.run("exp-run", &["-j7", "--status-every", "0.5s"]);
    out.succeeds();
    let line = *still_running(&out.stderr).first().unwrap_or_else(|| panic!("{out:?}"));
    let names = line.matches(" (").count();
    assert_eq!(names, 5, "five named: {line:?}");
    assert!(line.ends_with(", and 2 more"), "{line:?}");
}

#[test]
fn progress_never_quiet_and_off_print_no_status_lines() {
    let dir = Dir::new();
    sweep(&dir, "sleep 2", 4);
    let never = dir.run("exp-run", &["--limit", "1", "--status-every", "0.3s", "--progress", "never"]);
    never.succeeds();
    assert_eq!(never.stderr.lines().count(), 1, "the closing line only: {never:?}");
    let quiet = dir.run("exp-run", &["--limit", "1", "--status-every", "0.3s", "-q"]);
    quiet.succeeds();
    assert_eq!(quiet.stderr, "", "{quiet:?}");
    for off in ["off", "0"] {
        let out = dir.run("exp-run", &["--limit", "1", "--status-every", off]);
        out.succeeds();
        assert!(still_running(&out.stderr).is_empty(), "{off}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 2, "one plain line and the closing one: {out:?}");
    }
    let bad = dir.run("exp-run", &["--status-every", "often"]);
    bad.fails_with(2).stderr_has("--status-every");
}

// ---------- colour ----------

/// An experiment with a done config `n1` and a failed one `n2`.
fn one_done_one_failed() -> Dir {
    let dir = Dir::new();
    sweep(&dir, "test {n} -ne 2", 2);
    dir.run("exp-run", &["-q"]).fails_with(1);
    dir
}

#[test]
fn exp_status_colours_people_output_on_request_only() {
    let dir = one_done_one_failed();
    let always = dir.run("exp-status", &["--color", "always"]);
    always.succeeds().stdout_has(ESC);
    let failed = always.stdout.lines().find(|l| l.contains("n2")).unwrap();
    assert!(failed.contains("\x1b[31m"), "a failed config in red: {failed:?}");
    let table = dir.run("exp-status", &["--status", "failed", "--color", "always"]);
    table.stdout_has("\x1b[31mfailed");
    // Dir::cmd sets NO_COLOR=1, and stdout is a pipe anyway.
    for args in
        [&["--color", "auto"][..], &[], &["--color", "never"], &["--status", "failed", "--color", "never"]]
    {
        let out = dir.run("exp-status", args);
        assert!(!out.stdout.contains(ESC) && !out.stderr.contains(ESC), "{args:?}: {out:?}");
        out.stdout_has("n2");
    }
    // Data is never coloured.
    for args in
        [&["--json"][..], &["--names"], &["--counts"], &["--counts", "--json"], &["--json", "--results"]]
    {
        let mut args = args.to_vec();
        args.extend(["--color", "always"]);
        let out = dir.run("exp-status", &args);
        out.succeeds();
        assert!(!out.stdout.contains(ESC), "{args:?}: {out:?}");
    }
    let bad = dir.run("exp-status", &["--color", "sometimes"]);
    bad.fails_with(2);
}

#[test]
fn exp_run_colours_its_lines_and_warnings_on_request_only() {
    let dir = Dir::new();
    sweep(&dir, "test {n} -ne 2", 2);
    let always = dir.run("exp-run", &["--color", "always", "--json"]);
    always.fails_with(1).stderr_has("\x1b[31mfailed\x1b[0m n2");
    let closing = always.stderr.lines().last().unwrap();
    assert!(closing.contains("\x1b[31m1 done, 1 failed"), "the closing line says it failed: {closing:?}");
    always.stdout_lacks(ESC); // --json events are data
    dir.run("exp-clean", &["--reset-failed"]).succeeds();
    for args in [&["--color", "auto"][..], &["--color", "never"]] {
        let out = dir.run("exp-run", args);
        out.fails_with(1);
        assert!(out.stderr.contains("failed n2") && !out.stderr.contains(ESC), "{args:?}: {out:?}");
        dir.run("exp-clean", &["--reset-failed"]).succeeds();
    }
    // `warning:` is coloured like the rest.
    let warns = |color: &str| dir.run_stdin("exp-add", &["--color", color], "{\"n\":9,\"unused\":1}\n");
    let coloured = warns("always");
    coloured.stderr_has("\x1b[33mwarning\x1b[0m: ").stdout_lacks(ESC); // exp-add's lines are data
    let plain = warns("auto");
    plain.stderr_has("warning: ").stderr_lacks(ESC);
}

#[test]
fn every_tool_takes_color() {
    let dir = Dir::new();
    for tool in ["exp-init", "exp-add", "exp-run", "exp-status", "exp-summary", "exp-snapshot", "exp-clean"] {
        let help = dir.run(tool, &["--help"]);
        help.succeeds();
        assert!(help.stdout.contains("--color <WHEN>"), "{tool}: {help:?}");
        assert!(!help.stdout.contains(ESC), "{tool}: {help:?}");
    }
    dir.run("exp-init", &["--color", "never", "--", "true"]).succeeds();
    dir.run("exp-add", &["--color", "always", "--grid", "n=1"]).succeeds();
    dir.run("exp-run", &["--color", "never"]).succeeds();
    dir.run("exp-summary", &["--color", "always"]).succeeds();
}

// ---------- under a pseudo-terminal ----------

/// Run `command` (a shell line) under a pseudo-terminal 70 columns wide,
/// in `cwd`; returns what the terminal received, or None without `script`.
fn on_a_terminal(cwd: &Path, command: &str) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux script is not installed");
        return None;
    }
    let line = format!("stty cols 70 rows 30; {command}");
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(cwd)
        .env_remove("NO_COLOR")
        .env_remove("EXP_DIR")
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "70")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn script");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{command}: still running after 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let captured = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert!(status.success(), "{command}: {status}\n{captured}");
    Some(captured)
}

/// Text without escape sequences (CSI `ESC [ ... letter`, and two-byte ones).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != ESC {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Every line the terminal was given (split at newlines and carriage returns).
fn screen_lines(captured: &str) -> Vec<String> {
    strip_ansi(captured).split(['\r', '\n']).filter(|l| !l.trim().is_empty()).map(str::to_string).collect()
}

#[test]
fn bars_on_a_terminal_count_show_each_commands_last_line_and_fit_70_columns() {
    let dir = Dir::new();
    sweep(&dir, "for i in 1 2 3 4 5; do echo \"step $i of {n}\"; sleep 0.3; done", 4);
    let run = format!("{} exp -j 2", quote(&bin("exp-run")));
    let Some(captured) = on_a_terminal(dir.path(), &run) else { return };
    assert!(dir.status().iter().all(|row| row["status"] == "done"), "{captured}");
    let lines = screen_lines(&captured);
    let overall: Vec<&String> = lines.iter().filter(|l| l.contains("finished (")).collect();
    assert!(!overall.is_empty(), "the overall bar: {captured:?}");
    assert!(overall.iter().any(|l| l.contains("/4 finished (") && l.contains(" done, ")), "{overall:?}");
    for line in &overall {
        assert!(line.chars().count() <= 70, "wider than the terminal: {line:?}");
    }
    let workers: Vec<&String> = lines.iter().filter(|l| l.contains("worker ")).collect();
    assert!(workers.iter().any(|l| l.contains("step ")), "a command's own line on its worker's: {workers:?}");
    for line in &workers {
        assert!(line.chars().count() <= 70, "wider than the terminal: {line:?}");
    }
    assert!(!lines.iter().any(|l| l.contains("still running")), "no plain lines on a terminal");
    let closing = lines.last().unwrap();
    assert!(closing.starts_with("exp-run: 4 done, 0 failed"), "{closing:?}");
}

#[test]
fn a_workers_line_shows_its_last_metrics_line_in_place_of_its_output() {
    let dir = Dir::new();
    let script = r#"for i in 1 2 3 4; do echo "epoch $i"; echo "{{\"step\": $i, \"loss\": 0.$i}}" >> "$EXP_METRICS"; sleep 0.3; done"#;
    sweep(&dir, script, 2);
    let run = format!("{} exp -j 2", quote(&bin("exp-run")));
    let Some(captured) = on_a_terminal(dir.path(), &run) else { return };
    let lines = screen_lines(&captured);
    let workers: Vec<&String> = lines.iter().filter(|l| l.contains("worker ")).collect();
    assert!(workers.iter().any(|l| l.contains("step=3 loss=0.3")), "{workers:?}");
    assert!(!workers.iter().any(|l| l.contains("epoch 3")), "metrics win over output: {workers:?}");
}

#[test]
fn a_retry_shows_on_the_bars() {
    let dir = Dir::new();
    sweep(
        &dir,
        r#"sleep 0.3; test -e "$EXP_CONFIG_DIR/again" || (touch "$EXP_CONFIG_DIR/again"; exit 1)"#,
        1,
    );
    let run = format!("{} exp --retries 2", quote(&bin("exp-run")));
    let Some(captured) = on_a_terminal(dir.path(), &run) else { return };
    let lines = screen_lines(&captured);
    assert!(lines.iter().any(|l| l.contains("failed n1 (exit code 1")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("retrying n1, attempt 2/3")), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("n1 (attempt 2)")), "the worker's line says so: {lines:?}");
}

#[test]
fn long_adds_and_summaries_show_progress_on_a_terminal_only() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    // 60,000 rows: long enough to pass the progress line's delay in a test build.
    let grid = "--grid a=0..299 --grid b=0..199";
    let add = format!("{} exp {grid} > /dev/null", quote(&bin("exp-add")));
    let started = Instant::now();
    let Some(captured) = on_a_terminal(dir.path(), &add) else { return };
    let lines = screen_lines(&captured);
    assert!(lines.last().unwrap().contains("60000 config(s) added"), "{lines:?}");
    // The line waits 300 ms before it shows: only a slow enough call must show it.
    let long = |started: Instant| started.elapsed() > Duration::from_millis(1500);
    assert!(lines.iter().any(|l| l.contains("rows read")) || !long(started), "{lines:?}");
    let summary = format!("{} exp --ignore-missing > /dev/null", quote(&bin("exp-summary")));
    let started = Instant::now();
    let captured = on_a_terminal(dir.path(), &summary).unwrap();
    let lines = screen_lines(&captured);
    assert!(lines.iter().any(|l| l.contains("/60,000 configs read")) || !long(started), "{lines:?}");
    // In a pipe: not a byte of it.
    let piped = dir.run("exp-summary", &["--ignore-missing"]);
    piped.succeeds();
    assert_eq!(piped.stderr, "", "{piped:?}");
    assert_eq!(piped.stdout.lines().count(), 60_001);
    let more = dir.run("exp-add", &["--grid", "a=300..349", "--grid", "b=0..199"]);
    more.succeeds();
    assert_eq!(more.stderr.lines().count(), 1, "the count only: {more:?}");
}

#[test]
fn interactive_enter_lists_the_running_configs_and_takes_a_snapshot_without_echo() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux script is not installed");
        return;
    }
    let dir = Dir::new();
    let go = dir.path().join("go");
    // The commands wait for the test to let them finish.
    sweep(&dir, &format!("while [ ! -e '{}' ]; do sleep 0.05; done", go.display()), 3);
    let line = format!("stty cols 70 rows 30; {} exp -j 2 --interactive", quote(&bin("exp-run")));
    let mut child = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("EXP_DIR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script");
    let mut keyboard = child.stdin.take().unwrap();
    let mut screen = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut screen, &mut bytes);
        bytes
    });
    let running = || dir.status().iter().filter(|row| row["status"] == "running").count();
    wait_for("two configs running", || running() == 2);
    std::io::Write::write_all(&mut keyboard, b"typed-here\n").unwrap();
    let snapshots = dir.exp().join("snapshots");
    wait_for("a snapshot", || std::fs::read_dir(&snapshots).is_ok_and(|mut d| d.next().is_some()));
    std::fs::write(&go, "").unwrap();
    let status = child.wait().expect("wait");
    drop(keyboard);
    let captured = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    assert!(status.success(), "{status}\n{captured}");
    assert!(dir.status().iter().all(|row| row["status"] == "done"), "{captured}");
    let lines = screen_lines(&captured);
    let listed = lines.iter().position(|l| l.contains("2 config(s) running here:")).unwrap_or_else(|| {
        panic!("Enter lists what runs: {lines:#?}");
    });
    let workers = &lines[listed + 1..listed + 3];
    for (worker, line) in workers.iter().enumerate() {
        assert!(line.contains(&format!("worker  {worker}")) && line.contains("(attempt 1)"), "{workers:?}");
    }
    let snapshot = std::fs::read_dir(&snapshots).unwrap().next().unwrap().unwrap().path();
    assert!(lines.iter().any(|l| l.contains(&format!("snapshot: {}", snapshot.display()))), "{lines:#?}");
    assert!(snapshot.join("index.md").is_file(), "{}", snapshot.display());
    assert!(!captured.contains("typed-here"), "what is typed is not echoed over the bars: {captured:?}");
}

/// A pseudo-terminal opened close-on-exec (a command another test starts
/// meanwhile must not inherit it: a master kept open elsewhere would never
/// hang up): its master side, non-blocking, and its slave side.
fn pseudo_terminal() -> (nix::pty::PtyMaster, std::fs::File) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).expect("a pty");
    nix::pty::grantpt(&master).expect("grantpt");
    nix::pty::unlockpt(&master).expect("unlockpt");
    let path = nix::pty::ptsname_r(&master).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open(path)
        .expect("the pty's slave");
    fcntl(master.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_RDWR | OFlag::O_NONBLOCK)).expect("non-blocking");
    (master, slave)
}

/// What the terminal has been given since last time, without waiting.
fn drain(master: &nix::pty::PtyMaster, screen: &mut Vec<u8>) {
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = std::io::Read::read(&mut &*master, &mut buffer) {
        screen.extend_from_slice(&buffer[..n]);
    }
}

/// The terminal hangs up under the bars (its window closed, the ssh
/// connection dropped): the runner stops as on SIGHUP, with no panic, and
/// its running configs are back to todo.
#[test]
fn a_terminal_that_hangs_up_under_the_bars_stops_the_run_cleanly() {
    let dir = Dir::new();
    sweep(&dir, "sleep 60", 8);
    let (master, slave) = pseudo_terminal();
    let mut cmd = dir.cmd("exp-run");
    cmd.args(["exp", "-j", "4"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // The runner leads a session of its own whose controlling terminal is
    // the pty, as a login shell's job would: the hang-up sends it SIGHUP.
    // SAFETY: setsid and ioctl are async-signal-safe, and the closure allocates nothing.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            nix::unistd::setsid()?;
            match nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            }
        });
    }
    let mut runner = cmd.spawn().expect("spawn exp-run");
    // Nothing but the master may hold the terminal open now.
    drop(cmd);
    let mut screen = Vec::new();
    let running = || dir.status().iter().filter(|row| row["status"] == "running").count();
    wait_for("four configs running under the bars", || {
        drain(&master, &mut screen);
        strip_ansi(&String::from_utf8_lossy(&screen)).contains("4 running") && running() == 4
    });
    drop(master);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = runner.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = runner.kill();
            panic!("exp-run still running a minute after the hang-up");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(129), "interrupted by SIGHUP, not a panic: {status}");
    let rows = dir.status();
    assert!(rows.iter().all(|row| row["status"] == "todo"), "all back to todo: {rows:#?}");
}
