//! Regression tests of the attack report: one or more per defect, each named
//! after what it guards, its doc comment citing the defect.
//!
//! The tests drive the real binaries as a user (or an attacker) would and
//! look only at what is documented: exit codes, stdout and stderr, the
//! files a user sees, and `DIR/.exp/journal.jsonl` as a whole file. They
//! never rely on the text of `experiment.yaml` beyond its documented keys,
//! so they hold across a redesign of the store. What this machine cannot set
//! up (`chattr`) is skipped with a note on stderr, never failed.

use crate::harness::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------- helpers ----------

/// Run every tool (bounded: none may hang) and check its exit code and that
/// its stderr says `says`; then neither `experiment.yaml` nor the journal
/// changed by a byte.
fn every_tool_exits(dir: &Dir, code: i32, says: &str) {
    let state = dir.state_file();
    let journal = dir.journal();
    for (tool, args) in EVERY_TOOL {
        let out = run_bounded(dir, tool, args);
        assert_eq!(out.code, Some(code), "{tool} {args:?}: expected exit {code}\n{out:#?}");
        assert!(out.stderr.contains(says), "{tool} {args:?} does not say {says:?}: {out:#?}");
        assert_eq!(dir.state_file(), state, "{tool} {args:?} changed experiment.yaml");
        assert_eq!(dir.journal(), journal, "{tool} {args:?} changed the journal");
    }
}

/// An experiment `c0..c3` whose c0 is gated and the others exit at once;
/// c1..c3 are run to done by a runner that does not fold, because another
/// runner (holding c0) is alive; that one is then SIGKILLed. So c1..c3 are
/// done in the journal only, and c0 is left claimed by a dead runner.
fn unfolded(dir: &Dir) {
    gated_experiment(dir, 4, r#"[ "$EXP_NAME" = c0 ] || exit 0"#);
    std::fs::write(dir.path().join("gate-names"), "c0\n").unwrap();
    let mut holder = Bg::run(dir, &["--names", "gate-names", "--progress", "never"]);
    let c0 = wait_running(dir, &["c0"])[0];
    let _guard = KillOnDrop::Pid(c0);
    run_bounded(dir, "exp-run", &["--progress", "never"]).succeeds();
    holder.signal(Signal::SIGKILL);
    holder.wait_exit();
    drop(holder);
    wait_for("c0's command to die with its runner", || !alive(c0));
    let journal = std::fs::read_to_string(dir.journal_path()).unwrap();
    assert!(
        journal.lines().count() > 1 && ["\"c1\"", "\"c2\"", "\"c3\""].iter().all(|n| journal.contains(n)),
        "the run's events are in the journal, not folded: {journal}"
    );
}

// ---------- 1: params nested deeper than the readers can hold ----------

/// Params nested `levels` deep, the params object being level 1; objects
/// and arrays alternate below it.
fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for level in 1..levels {
        value = if level % 2 == 0 { json!([value]) } else { json!({ "k": value }) };
    }
    json!({ "d": value })
}

/// Attack report, defect 1: a params object nested 125 levels deep was
/// written, and from then on every tool exited 3.
#[test]
fn deeply_nested_params_are_refused_and_the_deepest_accepted_round_trip() {
    let dir = Dir::new();
    dir.init(&[], &["sh", "-c", r#"printf %s "$EXP_PARAMS" > "$EXP_CONFIG_DIR/params.seen""#]);
    for levels in [125, 65] {
        let line = format!("{}\n", nested(levels));
        let out = dir.run_stdin("exp-add", &[], &line);
        out.fails_with(2);
        assert!(out.stderr.contains("64"), "{levels} levels: names the limit: {out:?}");
    }
    assert!(dir.status().is_empty(), "nothing was added");

    let deepest = nested(64);
    let added = dir.run_stdin("exp-add", &[], &format!("{deepest}\n")).succeeds().json_lines();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["params"], deepest);
    let name = added[0]["name"].as_str().unwrap().to_string();
    let rows = dir.status();
    assert_eq!(rows[0]["params"], deepest, "exp-status returns it unchanged");

    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    let seen = dir.config_file(&name, "params.seen");
    let seen: Value = serde_json::from_str(&seen).expect("EXP_PARAMS is JSON");
    assert_eq!(seen, deepest, "EXP_PARAMS carries the params exactly");

    // The state was rewritten by the run; every tool still reads it.
    let rows = dir.status();
    assert_eq!(rows[0]["status"], "done");
    assert_eq!(rows[0]["params"], deepest);
    dir.run_stdin("exp-add", &[], "{\"d\":2}\n").succeeds();
    dir.run("exp-summary", &["--ignore-missing", "--json"]).succeeds();
    let rows = dir.status();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["params"], deepest);
}

// ---------- 2: a recovered config running twice at once ----------

/// Attack report, defect 2: a config recovered from a SIGKILLed runner could
/// run twice at once (the window between spawning a command and telling the
/// watchdog). Each command holds a per-config lock while it runs and records
/// "overlap" if another instance holds it.
#[test]
fn a_recovered_config_never_runs_twice_at_once() {
    let dir = Dir::new();
    for folder in ["locks", "starts"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    let script = r#"exec 9>>"locks/$EXP_NAME"
if ! flock -n 9; then echo "$EXP_NAME" >> overlap; exit 1; fi
echo "$EXP_NAME" >> "starts/$PPID"
sleep "$(printf '0.%03d' $(( 50 + (EXP_PARAM_I * 37) % 151 )))"
echo "$EXP_NAME" >> finished"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    run_bounded(&dir, "exp-add", &["--grid", "i=0..59"]).succeeds();
    let finished = || -> usize {
        let text = std::fs::read_to_string(dir.path().join("finished")).unwrap_or_default();
        text.lines().collect::<BTreeSet<_>>().len()
    };
    let started_by = |pid: Pid| -> usize {
        let path = dir.path().join("starts").join(pid.to_string());
        std::fs::read_to_string(path).map(|text| text.lines().count()).unwrap_or(0)
    };

    let worker = Bg::run(&dir, &["-j3", "--progress", "never"]);
    let mut kills = 0;
    for cycle in 0..10 {
        let mut victim = Bg::run(&dir, &["-j3", "--progress", "never"]);
        let pid = victim.pid();
        // Kill it just after its 1st, 2nd or 3rd start: it is likely to be
        // starting the next one.
        let wanted = 1 + cycle % 3;
        let deadline = Instant::now() + Duration::from_secs(60);
        let exited = loop {
            if victim.exited().is_some() {
                break true;
            }
            if started_by(pid) >= wanted || finished() == 60 {
                break false;
            }
            assert!(Instant::now() < deadline, "the runner started nothing in a minute");
            std::thread::sleep(Duration::from_millis(2));
        };
        if exited {
            break; // nothing was left for it
        }
        victim.signal(Signal::SIGKILL);
        victim.wait_exit();
        kills += 1;
    }
    let out = worker.finish();
    // Claims of the last victim may be left to recover.
    let last = run_bounded(&dir, "exp-run", &["-j3", "--progress", "never"]);
    let overlap = std::fs::read_to_string(dir.path().join("overlap")).unwrap_or_default();
    assert!(overlap.is_empty(), "configs ran twice at once: {overlap}");
    out.succeeds();
    last.succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 60, "{rows:#?}");
    assert_eq!(finished(), 60);
    eprintln!("note: a_recovered_config_never_runs_twice_at_once: {kills} runner(s) SIGKILLed");
}

// ---------- 3: a journal with a corrupt header ----------

/// Attack report, defect 3: removing the first `{` of the journal's first
/// line made exp-status report journalled configs todo, and the next exp-add
/// erased the journal.
#[test]
fn a_journal_with_a_corrupt_header_is_exit_3_for_every_tool_and_kept() {
    let dir = Dir::new();
    unfolded(&dir);
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    let path = dir.journal_path();
    let mut journal = bytes(&path);
    assert_eq!(journal[0], b'{');
    journal.remove(0);
    std::fs::write(&path, &journal).unwrap();
    every_tool_exits(&dir, 3, "journal.jsonl");
    assert_eq!(bytes(&path), journal);
}

// ---------- 4: a truncated experiment.yaml ----------

/// Five configs `c1..c5`, run to done, so exp has rewritten the state.
fn five_done(dir: &Dir) {
    dir.init(&["--naming", "c{i}"], &["true"]);
    dir.run("exp-add", &["--grid", "i=1..5"]).succeeds();
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(with_status(&by_name(dir), "done").len(), 5);
}

/// Attack report, defect 4: a truncated experiment.yaml loaded (prefixes
/// showed fewer configs, a 0-byte file an empty experiment).
#[test]
fn every_prefix_of_experiment_yaml_is_exit_3_and_left_unchanged() {
    let dir = Dir::new();
    five_done(&dir);
    let path = dir.state_path();
    let whole = bytes(&path);
    for len in 0..whole.len() {
        let prefix = &whole[..len];
        std::fs::write(&path, prefix).unwrap();
        let out = dir.run("exp-status", &[]);
        assert_eq!(out.code, Some(3), "a prefix of {len} of {} bytes: {out:#?}", whole.len());
        assert_eq!(bytes(&path), prefix, "exp-status changed a prefix of {len} bytes");
    }
    std::fs::write(&path, &whole).unwrap();
    assert_eq!(with_status(&by_name(&dir), "done").len(), 5);
}

/// Attack report, defect 4: a state file that lost one config's line loaded
/// with fewer configs.
#[test]
fn a_lost_config_line_in_experiment_yaml_is_exit_3() {
    let dir = Dir::new();
    five_done(&dir);
    let path = dir.state_path();
    let whole = String::from_utf8(bytes(&path)).unwrap();
    let lines: Vec<&str> = whole.split_inclusive('\n').collect();
    // The config's own line starts with its name (a header line may hold "c3" too).
    let lost = lines.iter().position(|line| line.trim_start().trim_start_matches('"').starts_with("c3"));
    let lost = lost.expect("a line naming c3");
    let without: String =
        lines.iter().enumerate().filter(|(i, _)| *i != lost).map(|(_, line)| *line).collect();
    std::fs::write(&path, &without).unwrap();
    for (tool, args) in [("exp-status", &[][..]), ("exp-add", &["--grid", "i=9"][..]), ("exp-run", &[][..])] {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(3), "{tool}: {out:#?}");
        assert_eq!(bytes(&path), without.as_bytes(), "{tool} changed the file");
    }
}

// ---------- 5: FIFOs where exp reads or writes a config's files ----------

/// Attack report, defect 5: a FIFO at $EXP_RESULT hung the runner, deaf to
/// SIGINT/SIGTERM.
#[test]
fn a_fifo_as_result_json_does_not_hang_the_runner() {
    let dir = Dir::new();
    // c1 makes a FIFO of its result; c2 fails until TMP/fixed exists.
    let script = r#"if [ "$EXP_NAME" = c1 ]; then mkfifo "$EXP_RESULT"; fi
echo "{{\"i\": $EXP_PARAM_I}}"
[ "$EXP_NAME" != c2 ] || [ -e fixed ]"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "i=1..2"]).succeeds();
    let out = Bg::run(&dir, &["--progress", "never"]).finish();
    out.fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "done", "{rows:#?}");
    assert_eq!(rows["c2"]["status"], "failed", "{rows:#?}");
    // Readers of results do not hang on it either.
    let results = run_bounded(&dir, "exp-status", &["--json", "--results"]);
    results.succeeds();
    run_bounded(&dir, "exp-summary", &["--ignore-missing"]).succeeds();

    // A FIFO planted at the failed config's result.json before its retry.
    let planted = dir.exp().join("configs/c2/result.json");
    let _ = std::fs::remove_file(&planted);
    nix::unistd::mkfifo(&planted, nix::sys::stat::Mode::S_IRWXU).unwrap();
    touch(&dir, "fixed");
    let out = Bg::run(&dir, &["--retry-failed", "--progress", "never"]).finish();
    let rows = by_name(&dir);
    for name in ["c1", "c2"] {
        let status = rows[name]["status"].as_str().unwrap();
        assert!(status == "done" || status == "failed", "{name}: {status}: {out:?}");
    }
    run_bounded(&dir, "exp-status", &["--json", "--results"]).succeeds();
    run_bounded(&dir, "exp-summary", &["--ignore-missing", "--json"]).succeeds();
}

/// c1 and c2; a FIFO is planted at c1's `stdout.log` before the run, with a
/// process holding it open for reading when `reader`. Returns c1's error.
fn fifo_as_stdout_log(reader: bool) -> String {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=1..2"]).succeeds();
    let folder = dir.exp().join("configs/c1");
    std::fs::create_dir_all(&folder).unwrap();
    let fifo = folder.join("stdout.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let _held = reader.then(|| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&fifo)
            .expect("open the FIFO for reading")
    });
    // A file left in a config's folder is kept aside, never opened: the run
    // ends, and the config runs with logs of its own.
    Bg::run(&dir, &["--progress", "never"]).finish().succeeds();
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "done", "{rows:#?}");
    assert_eq!(rows["c2"]["status"], "done", "{rows:#?}");
    use std::os::unix::fs::FileTypeExt;
    let kept = earlier_folder(&dir, "c1").join("stdout.log");
    let kept = std::fs::symlink_metadata(kept).expect("the FIFO, kept aside");
    assert!(kept.file_type().is_fifo());
    std::fs::read_to_string(folder.join("stdout.log")).expect("a log of its own")
}

/// Attack report, defect 5: a FIFO planted at configs/NAME/stdout.log hung
/// the runner.
#[test]
fn a_fifo_planted_as_stdout_log_with_a_reader_is_kept_aside() {
    assert_eq!(fifo_as_stdout_log(true), "1\n");
}

/// Attack report, defect 5: the same FIFO with nobody reading it: the run
/// still ends.
#[test]
fn a_fifo_planted_as_stdout_log_without_a_reader_does_not_hang() {
    assert_eq!(fifo_as_stdout_log(false), "1\n");
}

// ---------- 6: a runner started with its stop signals blocked ----------

/// SIGTERM and SIGINT blocked in the process `command` starts, as a parent
/// (a batch system, a wrapper) may leave them across exec.
fn block_stop_signals(command: &mut Command) {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
    use std::os::unix::process::CommandExt;
    // SAFETY: sigprocmask is async-signal-safe, and the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let mut set = SigSet::empty();
            set.add(Signal::SIGTERM);
            set.add(Signal::SIGINT);
            sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None).map_err(std::io::Error::from)
        });
    }
}

/// Attack report, defect 6: a runner started with SIGTERM/SIGINT blocked
/// ignored them. The wrapper works: a process it starts has both blocked.
#[test]
fn a_runner_started_with_stop_signals_blocked_still_stops() {
    let mut probe = Command::new("cat");
    probe.arg("/proc/self/status");
    block_stop_signals(&mut probe);
    let status = String::from_utf8(probe.output().expect("cat").stdout).unwrap();
    let blocked = status.lines().find_map(|l| l.strip_prefix("SigBlk:")).expect("SigBlk");
    let blocked = u64::from_str_radix(blocked.trim(), 16).unwrap();
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        assert_ne!(blocked & (1 << (signal as u64 - 1)), 0, "{signal} is not blocked: {blocked:x}");
    }

    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let dir = Dir::new();
        gated_experiment(&dir, 1, "");
        let mut command = dir.cmd("exp-run");
        command.args(["exp", "--progress", "never", "--kill-after", "2s"]);
        block_stop_signals(&mut command);
        let runner = Proc::spawn(&dir, "exp-run", command, Stdio::null());
        let _guard = KillOnDrop::Pid(wait_running(&dir, &["c0"])[0]);
        kill(runner.pid(), signal).unwrap();
        let out = runner.finish();
        assert_eq!(out.code, Some(128 + signal as i32), "{signal}: {out:#?}");
        let rows = by_name(&dir);
        assert_eq!(rows["c0"]["status"], "todo", "{signal}: {rows:#?}");
    }
}

// ---------- 7: an invalid last journal line ----------

/// Attack report, defect 7: after `echo garbage >> .exp/journal.jsonl`,
/// exp-status warned and skipped it, then the next exp-run appended after it
/// and every tool exited 3 afterwards. The run here does not fold (another
/// runner is alive), so what it appends stays in the journal.
#[test]
fn an_invalid_last_journal_line_is_skipped_then_cut_by_the_next_run() {
    let dir = Dir::new();
    c0_gated_experiment(&dir, 4);
    std::fs::write(dir.path().join("gate-names"), "c0\n").unwrap();
    let holder = Bg::run(&dir, &["--names", "gate-names", "--progress", "never"]);
    wait_running(&dir, &["c0"]);

    let journal = dir.journal_path();
    let mut text = bytes(&journal);
    text.extend_from_slice(b"garbage\n");
    std::fs::write(&journal, &text).unwrap();
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    out.succeeds().stderr_has("journal.jsonl"); // warns about the line
    assert_eq!(out.json_lines().len(), 4);

    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    let after = String::from_utf8(bytes(&journal)).unwrap();
    assert!(!after.contains("garbage"), "the next writer cut the invalid line: {after}");
    assert!(after.contains("\"c1\""), "the run's events are in the journal, not folded: {after}");
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done"), ["c1", "c2", "c3"].map(String::from).into(), "{rows:#?}");
    for (tool, args) in EVERY_TOOL {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(0), "{tool} {args:?}: {out:#?}");
    }
    release(&dir);
    holder.finish().succeeds();
    // The tools above added c99 (exp-add) and ran it (exp-run).
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 5, "{rows:#?}");
    for row in rows.values() {
        assert_eq!(row["attempts"], 1, "{row}");
    }
    let runs = std::fs::read_to_string(dir.path().join("runs.txt")).unwrap();
    assert_eq!(runs.lines().count(), 5, "each config ran once: {runs}");
    let out = run_bounded(&dir, "exp-status", &[]);
    out.succeeds().stderr_lacks("journal");
}

/// Attack report, defect 7: an invalid line followed by valid ones is
/// corruption, not a torn write.
#[test]
fn an_invalid_journal_line_in_the_middle_is_exit_3() {
    let dir = Dir::new();
    unfolded(&dir);
    let path = dir.journal_path();
    let text = String::from_utf8(bytes(&path)).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert!(lines.len() >= 3, "{text}");
    let corrupt = format!("{}{}garbage\n{}", lines[0], lines[1], lines[2..].concat());
    std::fs::write(&path, &corrupt).unwrap();
    every_tool_exits(&dir, 3, "journal.jsonl");
}

// ---------- 8: a journal of another experiment ----------

/// Attack report, defect 8: a journal copied from experiment A into
/// experiment B was applied when its epoch matched. Both are made the same
/// way, so their epochs match.
#[test]
fn a_journal_from_another_experiment_is_exit_3() {
    let a = Dir::new();
    unfolded(&a);
    let b = Dir::new();
    unfolded(&b);
    std::fs::copy(a.journal_path(), b.journal_path()).unwrap();
    let (state, journal) = (b.state_file(), bytes(&b.journal_path()));
    every_tool_exits(&b, 3, "another experiment");
    assert_eq!(b.state_file(), state);
    assert_eq!(bytes(&b.journal_path()), journal);
}

// ---------- 9: integers beyond 64 bits ----------

/// Attack report, defect 9: integers beyond 64 bits silently became floats
/// (2^64 and 2^64+1 were one config).
#[test]
fn integers_beyond_64_bits_are_refused_and_u64_max_reaches_the_command_exactly() {
    let dir = Dir::new();
    let script = r#"printf '%s\n%s\n%s\n' "$1" "$EXP_PARAM_N" "$EXP_PARAMS" > "$EXP_CONFIG_DIR/seen""#;
    dir.init(&[], &["sh", "-c", script, "sh", "{n}"]);
    for big in ["18446744073709551616", "18446744073709551617", "-9223372036854775809"] {
        let out = dir.run_stdin("exp-add", &[], &format!("{{\"n\":{big}}}\n"));
        out.fails_with(2).stderr_has("quote"); // suggests quoting
        let out = dir.run("exp-add", &["--grid", &format!("n={big}")]);
        out.fails_with(2).stderr_has("quote"); // suggests quoting
    }
    assert!(dir.status().is_empty(), "nothing was added");

    let max = "18446744073709551615";
    let added = dir.run_stdin("exp-add", &[], &format!("{{\"n\":{max}}}\n")).succeeds().json_lines();
    let exact = added[0]["name"].as_str().unwrap().to_string();
    assert_eq!(added[0]["params"]["n"].as_u64(), Some(u64::MAX));
    let added = dir.run_stdin("exp-add", &[], "{\"n\":\"18446744073709551616\"}\n").succeeds().json_lines();
    let quoted = added[0]["name"].as_str().unwrap().to_string();
    assert_eq!(added[0]["params"]["n"], "18446744073709551616");
    dir.run("exp-run", &["--progress", "never"]).succeeds();

    let seen = |name: &str| dir.config_file(name, "seen");
    assert_eq!(seen(&exact), format!("{max}\n{max}\n{{\"n\":{max}}}\n"));
    let big = "18446744073709551616";
    assert_eq!(seen(&quoted), format!("{big}\n{big}\n{{\"n\":\"{big}\"}}\n"));
    let rows = by_name(&dir);
    assert_eq!(rows[&exact]["params"]["n"].as_u64(), Some(u64::MAX));
    assert_eq!(rows[&quoted]["params"]["n"], big);
    assert_eq!(with_status(&rows, "done").len(), 2);
}

// ---------- 10: exit 3 after changes were made ----------

/// Attack report, defect 10: with a symlink at .exp/journal.jsonl, exp-add
/// wrote the state, then exited 3.
#[test]
fn a_symlinked_journal_is_exit_3_and_nothing_is_written_through_it() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["true"]);
    dir.run("exp-add", &["--grid", "i=1..2"]).succeeds();
    let journal = dir.journal_path();
    let elsewhere = dir.path().join("elsewhere.jsonl");
    std::fs::rename(&journal, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &journal).unwrap();
    let (state, target) = (dir.state_file(), bytes(&elsewhere));
    for (tool, args) in [
        ("exp-add", &["--grid", "i=3"][..]),
        ("exp-run", &["--progress", "never"][..]),
        ("exp-clean", &[][..]),
    ] {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(3), "{tool}: {out:#?}");
        assert_eq!(dir.state_file(), state, "{tool} changed experiment.yaml");
        assert_eq!(bytes(&elsewhere), target, "{tool} wrote through the symlink");
        assert!(std::fs::symlink_metadata(&journal).unwrap().file_type().is_symlink());
    }
    assert!(!dir.exp().join("configs/c1").exists(), "nothing ran");
}

/// Attack report, defect 10: when the fold at the end of a run failed,
/// exp-run exited 3 although every config had run and was recorded.
#[test]
fn a_run_in_an_immutable_experiment_dir_exits_0_and_warns_that_it_could_not_fold() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=1..3"]).succeeds();
    let Some(immutable) = Immutable::set(&dir.exp(), "a_run_in_an_immutable_experiment_dir") else {
        return;
    };
    let out = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    out.succeeds().stderr_has("fold"); // warns that it could not fold
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    drop(immutable);
    // Once writable again, the next writer folds.
    dir.run("exp-add", &["--grid", "i=4"]).succeeds();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 3, "{rows:#?}");
    assert_eq!(rows["c4"]["status"], "todo");
}

// ---------- 11: a symlinked .exp/runners ----------

/// Attack report, defect 11: a symlinked .exp/runners was followed.
#[test]
fn a_symlinked_runners_folder_is_exit_3_and_nothing_is_written_in_its_target() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["true"]);
    dir.run("exp-add", &["--grid", "i=1..2"]).succeeds();
    let runners = dir.exp().join(".exp/runners");
    let target = dir.path().join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    std::fs::remove_dir_all(&runners).unwrap();
    std::os::unix::fs::symlink(&target, &runners).unwrap();
    for (tool, args) in [
        ("exp-run", &["--progress", "never"][..]),
        ("exp-status", &[][..]),
        ("exp-status", &["--json"][..]),
        ("exp-clean", &[][..]),
    ] {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(3), "{tool}: {out:#?}");
        let written: Vec<_> = std::fs::read_dir(&target).unwrap().collect();
        assert!(written.is_empty(), "{tool} wrote in the symlink's target: {written:?}");
    }
    assert!(!dir.exp().join("configs/c1").exists(), "nothing ran");
}

// ---------- 12: summary columns ----------

/// A CSV text: its header and rows, with the checks every summary must pass.
fn parse_csv(text: &str) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().expect("a header").iter().map(str::to_string).collect();
    assert!(header.iter().all(|h| !h.is_empty()), "a blank header: {header:?}");
    let unique: BTreeSet<&String> = header.iter().collect();
    assert_eq!(unique.len(), header.len(), "duplicate headers: {header:?}");
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let row: Vec<String> = record.expect("a CSV record").iter().map(str::to_string).collect();
        assert_eq!(row.len(), header.len(), "{row:?} under {header:?}");
        rows.insert(row[0].clone(), row);
    }
    (header, rows)
}

/// The headers of the cells of `row` holding `value`.
fn columns_holding<'a>(header: &'a [String], row: &[String], value: &str) -> Vec<&'a str> {
    row.iter()
        .enumerate()
        .skip(1)
        .filter(|(_, cell)| *cell == value)
        .map(|(i, _)| header[i].as_str())
        .collect()
}

fn check_summary(text: &str) {
    let (header, rows) = parse_csv(text);
    // `[1]` is no result: no column of its own, no cell filled.
    let arr = &rows["arr"];
    for (i, cell) in arr.iter().enumerate() {
        assert!(i == 0 || header[i] == "k" || cell.is_empty(), "{} = {cell:?} from a non-object", header[i]);
    }
    // The key "" has a non-blank header, quoted.
    let empty = columns_holding(&header, &rows["empty"], "5");
    assert_eq!(empty.len(), 1, "{header:?} {:?}", rows["empty"]);
    assert!(empty[0].contains('"'), "the empty key's header is quoted: {empty:?}");
    // "a.b" and a.b are two columns, both values kept.
    for (name, first, second) in [("dots", "1", "2"), ("pdots", "1", "2")] {
        let row = &rows[name];
        let (one, two) = (columns_holding(&header, row, first), columns_holding(&header, row, second));
        assert_eq!((one.len(), two.len()), (1, 1), "{name}: {header:?} {row:?}");
        assert_ne!(one[0], two[0], "{name}: {header:?} {row:?}");
    }
}

/// Attack report, defect 12: summary columns collided or went blank.
#[test]
fn summary_columns_never_collide_nor_go_blank() {
    let dir = Dir::new();
    std::fs::create_dir(dir.path().join("results")).unwrap();
    let script = r#"if [ -e "results/$EXP_NAME.json" ]; then cp "results/$EXP_NAME.json" "$EXP_RESULT"; fi"#;
    dir.init(&["--naming", "{k}", "--shell", script], &[]);
    for (name, result) in [("arr", "[1]"), ("empty", r#"{"":5}"#), ("dots", r#"{"a.b":1,"a":{"b":2}}"#)] {
        std::fs::write(dir.path().join(format!("results/{name}.json")), result).unwrap();
    }
    let lines =
        "{\"k\":\"arr\"}\n{\"k\":\"empty\"}\n{\"k\":\"dots\"}\n{\"k\":\"pdots\",\"p.q\":1,\"p\":{\"q\":2}}\n";
    dir.run_stdin("exp-add", &[], lines).succeeds();
    let run = dir.run("exp-run", &["--progress", "never"]);
    run.succeeds();
    let warned = run.stderr.lines().filter(|l| l.contains("configs/arr/result.json")).count();
    assert_eq!(warned, 1, "the run warns of it once, not again for its summary: {run:?}");
    let out = dir.run("exp-summary", &[]);
    // A warning names the result that is not an object.
    out.succeeds().stderr_has("configs/arr/result.json").stderr_has("warning");
    check_summary(&out.stdout);
    check_summary(&dir.read("exp/results_summary.csv"));
}

// ---------- 13: unknown keys in experiment.yaml ----------

/// With python3 and PyYAML: `experiment.yaml` read by `yaml.safe_load`
/// still holds the hand-written keys. False (with a note) without them.
fn python_sees_the_keys(path: &Path) -> bool {
    let check = r#"import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
assert d["notes"] == {"by": "hand"}, d
assert d["configs"]["c1"]["tag"] == 7, d
assert len(d["configs"]) == 2, d"#;
    let available = Command::new("python3")
        .args(["-c", "import yaml"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !available {
        eprintln!("note: unknown_keys_survive_rewrites: python3 with PyYAML missing; checked with grep only");
        return false;
    }
    let out = Command::new("python3").args(["-c", check]).arg(path).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    true
}

/// Attack report, defect 13: unknown keys in experiment.yaml were dropped on
/// the next rewrite.
#[test]
fn unknown_keys_in_a_hand_written_experiment_yaml_survive_rewrites() {
    let dir = Dir::new();
    std::fs::create_dir(dir.exp()).unwrap();
    let state = r#"name: hand
description: written by hand
command: ["sh", "-c", "echo ran"]
notes:
  by: hand
configs:
  c1:
    params:
      i: 1
    status: todo
    tag: 7
"#;
    std::fs::write(dir.state_path(), state).unwrap();
    let path = dir.state_path();
    // exp-add rewrites the state; so does the fold at the end of a run.
    dir.run_stdin("exp-add", &[], "{\"i\":2}\n").succeeds();
    for step in ["after exp-add", "after exp-run"] {
        let text = String::from_utf8(bytes(&path)).unwrap();
        assert_ne!(text, state, "{step}: the state was rewritten");
        for word in ["notes", "by", "hand", "tag", "7"] {
            assert!(text.contains(word), "{step}: {word:?} lost:\n{text}");
        }
        python_sees_the_keys(&path);
        if step == "after exp-add" {
            dir.run("exp-run", &["--progress", "never"]).succeeds();
        }
    }
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), 2, "{rows:#?}");
}

// ---------- 14: lax input checks ----------

/// Attack report, defect 14: lax input checks let these through.
#[test]
fn params_with_a_nul_a_key_twice_or_an_empty_grid_value_are_exit_2() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    for line in [r#"{"s":"a\u0000b"}"#, r#"{"a":1,"a":2}"#, r#"{"s\u0000":1}"#] {
        let out = dir.run_stdin("exp-add", &[], &format!("{line}\n"));
        assert_eq!(out.code, Some(2), "{line}: {out:#?}");
    }
    let out = dir.run("exp-add", &["--grid", "i=1,,2"]);
    out.fails_with(2);
    assert!(dir.status().is_empty(), "nothing was added");
}

/// Attack report, defect 14: a hand-written experiment.yaml with one config
/// name twice loaded with one of them silently dropped.
#[test]
fn a_config_name_given_twice_in_a_hand_written_state_is_exit_3() {
    let dir = Dir::new();
    std::fs::create_dir(dir.exp()).unwrap();
    let state = r#"name: null
description: null
command: ["true"]
configs:
  c1:
    params: {i: 1}
    status: todo
  c1:
    params: {i: 2}
    status: done
"#;
    std::fs::write(dir.state_path(), state).unwrap();
    for (tool, args) in [
        ("exp-status", &[][..]),
        ("exp-status", &["--json"][..]),
        ("exp-add", &["--grid", "i=3"][..]),
        ("exp-run", &[][..]),
        ("exp-clean", &[][..]),
    ] {
        let out = run_bounded(&dir, tool, args);
        assert_eq!(out.code, Some(3), "{tool}: {out:#?}");
        assert_eq!(dir.read("exp/experiment.yaml"), state, "{tool} changed the file");
    }
}

// ---------- 15: large results ----------

/// Attack report, defect 15: a result line over 1 MiB was not captured, with
/// no warning.
#[test]
fn a_2_mib_result_line_is_captured() {
    let dir = Dir::new();
    let script = r#"echo noise; printf '{{"big":"'; head -c 2097152 /dev/zero | tr '\0' a; printf '"}}\n'"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "i=1"]).succeeds();
    run_bounded(&dir, "exp-run", &["--progress", "never"]).succeeds();
    let rows = run_bounded(&dir, "exp-status", &["--json", "--results"]).succeeds().json_lines();
    let big = rows[0]["result"]["big"].as_str().unwrap_or_else(|| panic!("no result: {:.300}", rows[0]));
    assert_eq!(big.len(), 2 << 20);
    assert!(big.bytes().all(|b| b == b'a'));
    let summary = run_bounded(&dir, "exp-summary", &["--json"]).succeeds().json_lines();
    assert_eq!(summary[0]["result"]["big"].as_str().map(str::len), Some(2 << 20));
}

/// Attack report, defect 15: a result line too far from the end of stdout was
/// lost without a word; now a warning names the limit.
#[test]
fn a_result_line_beyond_the_searched_tail_is_warned_about() {
    let dir = Dir::new();
    let script = r#"echo '{{"x":1}}'; yes bbbbbbbbbbbbbbb | head -c 17825792"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "i=1"]).succeeds();
    let out = run_bounded(&dir, "exp-run", &["--progress", "never"]);
    out.succeeds()
        .stderr_has("16 MiB") // names the limit
        .stderr_has("stdout.log"); // names the file
}

// ---------- 16: --dry-run checks less than a run ----------

/// Attack report, defect 16: `exp-run --dry-run --env X={nope}` printed
/// commands that a real run refuses.
#[test]
fn dry_run_refuses_a_bad_env_template_like_a_real_run() {
    let dir = Dir::new();
    dir.init(&["--naming", "c{i}"], &["echo", "{i}"]);
    dir.run("exp-add", &["--grid", "i=1"]).succeeds();
    for args in [&["--dry-run", "--env", "X={nope}"][..], &["--env", "X={nope}"][..]] {
        let out = dir.run("exp-run", args);
        out.fails_with(2);
        assert!(out.stderr.contains("c1") && out.stderr.contains("nope"), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    let rows = by_name(&dir);
    assert_eq!(rows["c1"]["status"], "todo");
    assert!(!dir.exp().join("configs/c1").exists(), "nothing ran");
}

// ---------- 17: setsid descendants of a SIGKILLed runner ----------

/// Attack report, defect 17: commands that `setsid` outlived a SIGKILLed
/// runner.
#[test]
fn a_setsid_descendant_dies_with_a_sigkilled_runner() {
    let dir = Dir::new();
    let script = r#"setsid sh -c 'echo $$ > sleeper.tmp && mv sleeper.tmp sleeper.pid && exec sleep 1000' &
wait"#;
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    dir.run("exp-add", &["--grid", "i=0"]).succeeds();
    let mut runner = Bg::run(&dir, &["--progress", "never"]);
    let sleeper = wait_pid(&dir, "sleeper.pid");
    let _guard = KillOnDrop::Pid(sleeper);
    // It left the command's process group and session.
    let stat = std::fs::read_to_string(format!("/proc/{sleeper}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    assert_eq!(fields[2], sleeper.to_string(), "it leads its own group: {stat}");
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    wait_for("the setsid'd sleep to die with its runner", || !alive(sleeper));
}

// ---------- 18: exp-status cannot recover stale claims ----------

/// Attack report, defect 18: exp-status on a full disk (or a read-only
/// journal) exited 3 when it had to recover a stale claim.
#[test]
fn status_shows_the_state_when_it_cannot_recover_stale_claims() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    let mut runner = Bg::run(&dir, &["--progress", "never"]);
    let c0 = wait_running(&dir, &["c0"])[0];
    let _guard = KillOnDrop::Pid(c0);
    runner.signal(Signal::SIGKILL);
    runner.wait_exit();
    drop(runner);
    wait_for("c0's command to die with its runner", || !alive(c0));

    let journal = dir.journal_path();
    let before = bytes(&journal);
    let Some(immutable) = Immutable::set(&journal, "status_shows_the_state_when_it_cannot_recover") else {
        return;
    };
    let out = run_bounded(&dir, "exp-status", &["--json"]);
    out.succeeds().stderr_has("warning"); // warns
    let rows = out.json_lines();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "running", "shown as it is: {rows:?}");
    let out = run_bounded(&dir, "exp-status", &[]);
    out.succeeds().stdout_has("c0").stderr_has("warning");
    assert_eq!(bytes(&journal), before);
    drop(immutable);
    // Writable again: the claim is recovered.
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "todo", "{rows:#?}");
}
