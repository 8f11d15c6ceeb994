//! `exp-run --devices` and `--memfree`: tokens shared by runners through
//! host-wide lock files, never held twice at once, back however a config
//! ends (kept by an orphaned command until it ends); the placeholder and
//! the environment; refusals; memory read from a stand-in file
//! (`$EXP_MEMINFO`) and from a real cgroup where the machine allows.
//!
//! Each test keeps its lock files in its own folder (`$EXP_DEVICE_LOCKS`),
//! so tests running at once never share a token.

use crate::harness::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `TOOL exp ARGS` in `dir`, its device locks in `locks`.
fn tool(dir: &Dir, locks: &Path, tool: &str, args: &[&str]) -> Command {
    let mut cmd = dir.cmd(tool);
    cmd.env("EXP_DEVICE_LOCKS", locks).env_remove("CUDA_VISIBLE_DEVICES").env_remove("EXP_MEMINFO");
    cmd.arg("exp").args(args);
    cmd
}

/// `exp-run exp ARGS` in the background, its device locks in `locks`.
fn runner(dir: &Dir, locks: &Path, args: &[&str]) -> Bg {
    Bg::of(tool(dir, locks, "exp-run", args))
}

/// Configs `PREFIX0..` (param `i`) running the shell template `script`.
fn experiment(dir: &Dir, prefix: &str, n: usize, script: &str) {
    let naming = format!("{prefix}{{i}}");
    dir.init(&["--naming", &naming, "--shell", script], &[]);
    dir.run("exp-add", &["--grid", &format!("i=0..{}", n - 1)]).succeeds();
}

/// The lock folder of a test: `TMP/locks` (made by the runners).
fn locks(dir: &Dir) -> PathBuf {
    dir.path().join("locks")
}

/// A command line that logs `start NAME NS DEVICES` and `end NAME NS
/// DEVICES` to `log` around `body`, checking on the way that the three
/// ways a config gets its devices agree.
fn logged(log: &Path, body: &str) -> String {
    let log = quote(log);
    format!(
        r#"[ "$EXP_DEVICES" = "$CUDA_VISIBLE_DEVICES" ] && [ "$EXP_DEVICES" = {{devices}} ] || exit 9
echo "start $EXP_NAME $(date +%s%N) $EXP_DEVICES" >> {log}
{body}
echo "end $EXP_NAME $(date +%s%N) $EXP_DEVICES" >> {log}"#
    )
}

/// Who held what when, from the log `logged` writes: for each config,
/// its start and end (ns) and its devices.
fn holdings(log: &Path) -> BTreeMap<String, (u128, u128, Vec<String>)> {
    let text = std::fs::read_to_string(log).unwrap();
    let mut spans: BTreeMap<String, (u128, u128, Vec<String>)> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let [what, name, ns, devices] = words[..] else { panic!("a bad log line: {line:?}") };
        let ns: u128 = ns.parse().unwrap();
        let tokens: Vec<String> = devices.split(',').map(str::to_string).collect();
        let span = spans.entry(name.to_string()).or_insert((0, 0, tokens.clone()));
        assert_eq!(span.2, tokens, "{name} kept its devices: {text}");
        match what {
            "start" => span.0 = ns,
            "end" => span.1 = ns,
            _ => panic!("a bad log line: {line:?}"),
        }
    }
    spans
}

/// No device was held by two configs at overlapping times.
fn assert_never_shared(spans: &BTreeMap<String, (u128, u128, Vec<String>)>) {
    for (a, (start_a, end_a, held_a)) in spans {
        assert!(start_a > &0 && end_a >= start_a, "{a} started and ended: {spans:?}");
        for (b, (start_b, end_b, held_b)) in
            spans.range::<String, _>((std::ops::Bound::Excluded(a.clone()), std::ops::Bound::Unbounded))
        {
            let overlap = start_a < end_b && start_b < end_a;
            let shared: Vec<&String> = held_a.iter().filter(|token| held_b.contains(token)).collect();
            assert!(!overlap || shared.is_empty(), "{a} and {b} both held {shared:?} at once: {spans:?}");
        }
    }
}

// ---------- sharing ----------

/// The issue's own case: a 4-GPU box, two runners (a cron tick beside a
/// manual run), each `-j 2` at 2 devices per config, so together they
/// want twice what there is. Every config, as its own log says, held 2
/// devices that no other config held meanwhile.
#[test]
fn two_runners_sharing_four_devices_two_per_config_never_hold_one_at_once() {
    let (one, two) = (Dir::new(), Dir::new());
    let locks = locks(&one);
    let log = one.path().join("log");
    // Every config waits for `go` once started: the second runner starts
    // while the first holds all it can.
    let go = quote(&one.path().join("go"));
    let body = format!("while [ ! -e {go} ]; do sleep 0.02; done; sleep 0.$(( EXP_PARAM_I % 3 + 1 ))");
    experiment(&one, "a", 6, &logged(&log, &body));
    experiment(&two, "b", 6, &logged(&log, &body));
    let args = ["--devices", "0-3", "--devices-per-config", "2", "-j", "2"];
    let first = runner(&one, &locks, &args);
    wait_for("the first runner to hold all four devices", || {
        std::fs::read_to_string(&log).is_ok_and(|log| log.lines().count() == 2)
    });
    let second = runner(&two, &locks, &args);
    wait_for("the second runner to wait", || second.stderr().contains("waiting for devices"));
    touch(&one, "go");
    first.finish().succeeds();
    second.finish().succeeds().stderr_has("waiting for devices: 2 per config, 0 of 4 free");
    let spans = holdings(&log);
    assert_eq!(spans.len(), 12, "{spans:?}");
    for (name, (_, _, held)) in &spans {
        assert!(
            held.len() == 2 && held.iter().all(|t| ["0", "1", "2", "3"].contains(&t.as_str())),
            "{name}: {held:?}"
        );
    }
    assert_never_shared(&spans);
}

/// Two Unix users share a lock folder that the first made under umask
/// 077: it is mode 1777 and the lock files 1666, so the second user's
/// runner waits for the first one's device, then gets it.
#[test]
fn two_unix_users_share_one_lock_folder() {
    let test = "two_unix_users_share_one_lock_folder";
    const ALICE: u32 = 10001;
    const BOB: u32 = 10002;
    if !(tools_run_as(ALICE, test) && tools_run_as(BOB, test)) {
        return;
    }
    let (hers, his) = (Dir::new(), Dir::new());
    gated_experiment(&hers, 1, "");
    shell_experiment(&his, 1, "echo ran > ran");
    for dir in [&hers, &his] {
        assert!(Command::new("chmod").arg("-R").arg("a+rwX").arg(dir.path()).status().unwrap().success());
    }
    let locks = locks(&hers);
    let as_user = |dir: &Dir, uid: u32, args: &[&str]| {
        let (reuid, regid) = (format!("--reuid={uid}"), format!("--regid={uid}"));
        let prefix =
            ["setpriv", &reuid, &regid, "--clear-groups", "sh", "-c", r#"umask 077; exec "$0" "$@""#];
        let mut cmd = wrapped(dir, &prefix, "exp-run", args);
        cmd.env("EXP_DEVICE_LOCKS", &locks);
        Bg::of(cmd)
    };
    let alice = as_user(&hers, ALICE, &["--devices", "0"]);
    wait_running(&hers, &["c0"]);
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o7777;
    assert_eq!((mode(&locks), mode(&locks.join("0.lock"))), (0o1777, 0o1666));
    assert_eq!(std::fs::metadata(locks.join("0.lock")).unwrap().uid(), ALICE);
    let bob = as_user(&his, BOB, &["--devices", "0"]);
    wait_for("bob's runner to wait", || bob.stderr().contains("waiting for devices"));
    assert!(!his.path().join("ran").exists(), "bob waits for alice's device");
    release(&hers);
    alice.finish().succeeds();
    bob.finish().succeeds();
    assert_eq!(his.read("ran"), "ran\n");
}

// ---------- tokens come back ----------

/// One device: a config killed by `--timeout`, one that fails, one that
/// is done; each gives its device back to the next.
#[test]
fn a_device_comes_back_after_a_timeout_and_a_failure() {
    let dir = Dir::new();
    let log = dir.path().join("log");
    let body = r#"case {i} in 0) exec sleep 60;; 1) exit 3;; esac"#;
    // The end line never comes for the two that do not reach it.
    shell_experiment(&dir, 3, &logged(&log, body));
    let out = runner(&dir, &locks(&dir), &["--devices", "0", "--timeout", "1s"]).finish();
    out.fails_with(1);
    let rows = by_name(&dir);
    assert_eq!(rows["c0"]["status"], "failed", "{rows:#?}");
    assert!(rows["c0"]["error"].as_str().unwrap().contains("timeout"), "{rows:#?}");
    assert_eq!((rows["c1"]["exit_code"].as_i64(), rows["c2"]["status"].as_str()), (Some(3), Some("done")));
    let starts = std::fs::read_to_string(&log).unwrap().lines().filter(|l| l.starts_with("start")).count();
    assert_eq!(starts, 3, "each started, on device 0 in turn");
}

/// A runner stopped by SIGINT puts its config back and lets go of its
/// device: the next runner takes it at once.
#[test]
fn a_device_comes_back_after_an_interrupted_run() {
    let dir = Dir::new();
    gated_experiment(&dir, 1, "");
    let first = runner(&dir, &locks(&dir), &["--devices", "7"]);
    wait_running(&dir, &["c0"]);
    first.signal(nix::sys::signal::Signal::SIGINT);
    assert_eq!(first.finish().code, Some(130));
    release(&dir);
    runner(&dir, &locks(&dir), &["--devices", "7"]).finish().succeeds().stderr_lacks("waiting");
    assert_eq!(statuses(&dir)["c0"], "done");
    // A name too long for its lock file is bad input too.
    let long = "g".repeat(300);
    runner(&dir, &locks(&dir), &["--devices", &long]).finish().fails_with(2).stderr_has("too long");
}

/// A runner and its watchdog are SIGKILLed (a lost process group): its
/// command runs on, orphaned, and keeps its device. Another runner, of
/// another experiment, says it waits and starts nothing; once the orphan
/// ends, it gets the device.
#[test]
fn an_orphaned_command_keeps_its_device_until_it_ends() {
    let (dir, other) = (Dir::new(), Dir::new());
    let locks = locks(&dir);
    gated_experiment(&dir, 1, "");
    shell_experiment(&other, 1, "echo ran > ran");
    let mut first = runner(&dir, &locks, &["--devices", "0"]);
    let orphan = wait_running(&dir, &["c0"])[0];
    let _guard = KillOnDrop::Group(orphan);
    kill_runner_and_watchdog(&mut first);
    assert!(alive(orphan), "the command runs on");
    let second = runner(&other, &locks, &["--devices", "0"]);
    wait_for("the other runner to wait", || second.stderr().contains("waiting for devices"));
    assert!(!other.path().join("ran").exists() && alive(orphan), "nothing started on the orphan's device");
    release(&dir);
    wait_for("the orphan to end", || !alive(orphan));
    second.finish().succeeds();
    assert_eq!(other.read("ran"), "ran\n");
}

/// A process that left its config (its own session, EXP_RUNNER and
/// EXP_NAME scrubbed, so the runner cannot find it to stop it) but
/// inherited its device keeps it after the config is recorded done: the
/// next config waits for it, even in the same runner.
#[test]
fn a_process_that_escaped_its_config_keeps_the_device() {
    let dir = Dir::new();
    let log = quote(&dir.path().join("log"));
    let script = format!(
        r#"case {{i}} in
0) setsid env -u EXP_RUNNER -u EXP_NAME sh -c 'touch away; while [ ! -e release ]; do sleep 0.05; done; echo escapee >> {log}' &
   while [ ! -e away ]; do sleep 0.01; done;;
*) echo "$EXP_NAME" >> {log};;
esac"#
    );
    shell_experiment(&dir, 2, &script);
    let run = runner(&dir, &locks(&dir), &["--devices", "0"]);
    wait_for("c1 to wait for the device", || run.stderr().contains("waiting for devices"));
    assert_eq!(statuses(&dir)["c0"], "done");
    assert!(!dir.path().join("log").exists(), "c1 has not started");
    release(&dir);
    run.finish().succeeds();
    assert_eq!(dir.read("log"), "escapee\nc1\n");
}

/// A command inherits its own config's locks only: c1, started while c0
/// held its device, does not keep that device once c0 has ended, so c2
/// runs on it while c1 still runs.
#[test]
fn a_command_inherits_no_other_configs_device() {
    let dir = Dir::new();
    let log = quote(&dir.path().join("log"));
    let script = format!(
        r#"case {{i}} in
0) while [ ! -e c1-started ]; do sleep 0.02; done;;
1) touch c1-started; while [ ! -e release ]; do sleep 0.05; done;;
esac
echo "$EXP_NAME $EXP_DEVICES" >> {log}"#
    );
    shell_experiment(&dir, 3, &script);
    let run = runner(&dir, &locks(&dir), &["--devices", "0,1"]);
    let ran = || std::fs::read_to_string(dir.path().join("log")).unwrap_or_default();
    wait_for("c2 to run beside c1", || ran().contains("c2 "));
    assert_eq!(statuses(&dir)["c1"], "running");
    release(&dir);
    run.finish().succeeds();
    let lines: Vec<String> = ran().lines().map(str::to_string).collect();
    let device =
        |name: &str| lines.iter().find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string));
    assert_eq!(device("c2"), device("c0"), "c2 ran on c0's device: {lines:?}");
    assert_ne!(device("c1"), device("c0"), "{lines:?}");
}

// ---------- what a config gets, and what people see ----------

/// `{devices}` is the config's devices, unless it has a param of that
/// name; `--devices` overrides a `CUDA_VISIBLE_DEVICES` of `--env`, and
/// says so.
#[test]
fn the_devices_placeholder_and_a_param_named_devices() {
    let dir = Dir::new();
    dir.init(
        &[
            "--naming",
            "c{i}",
            "--shell",
            r#"echo "{devices} $EXP_DEVICES $CUDA_VISIBLE_DEVICES" > "$EXP_NAME.out""#,
        ],
        &[],
    );
    dir.run_stdin("exp-add", &["-f", "-"], "{\"i\": 0, \"devices\": \"mine\"}\n{\"i\": 1}\n").succeeds();
    // Without --devices, c1 has nothing to fill {devices} with: nothing runs.
    let out = runner(&dir, &locks(&dir), &[]).finish();
    out.fails_with(2).stderr_has("{devices}").stderr_has("--devices");
    assert_eq!(statuses(&dir)["c0"], "todo");
    let out =
        runner(&dir, &locks(&dir), &["--devices", "GPU-aa,GPU-bb", "--env", "CUDA_VISIBLE_DEVICES={worker}"])
            .finish();
    out.succeeds().stderr_has("--devices overrides CUDA_VISIBLE_DEVICES of --env");
    let c0 = dir.read("c0.out");
    assert!(c0.starts_with("mine GPU-"), "the param wins: {c0}");
    let c1 = dir.read("c1.out");
    let words: Vec<&str> = c1.split_whitespace().collect();
    assert!(words[0].starts_with("GPU-") && words.iter().all(|w| *w == words[0]), "{c1}");
    // A config with a param named devices runs without --devices.
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c0\n").succeeds();
    std::fs::write(dir.path().join("c0.list"), "c0\n").unwrap();
    runner(&dir, &locks(&dir), &["--names", "c0.list"]).finish().succeeds();
    assert_eq!(dir.read("c0.out"), "mine  \n", "no devices given: only the param");
}

/// While a config runs on its devices, exp-status (for people and in
/// JSON), exp-snapshot and --dry-run say which.
#[test]
fn a_running_configs_devices_show_in_status_and_snapshot() {
    let dir = Dir::new();
    gated_experiment(&dir, 2, "");
    let dry =
        tool(&dir, &locks(&dir), "exp-run", &["--devices", "0-3", "--devices-per-config", "2", "--dry-run"])
            .output()
            .unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(dry.contains("CUDA_VISIBLE_DEVICES=0,1") && dry.contains("EXP_DEVICES=2,3"), "{dry}");
    let run = runner(&dir, &locks(&dir), &["--devices", "0-3", "--devices-per-config", "2"]);
    wait_running(&dir, &["c0", "c1"]);
    let rows = by_name(&dir);
    let mut held: Vec<&str> =
        ["c0", "c1"].iter().map(|n| rows[*n]["runner"]["devices"].as_str().unwrap()).collect();
    held.sort();
    assert_eq!(held, ["0,1", "2,3"], "{rows:#?}");
    let overview = dir.run("exp-status", &[]);
    overview.succeeds().stdout_has("devices 0,1").stdout_has("devices 2,3");
    let snapshot = dir.run("exp-snapshot", &["--json"]);
    let devices: Vec<String> =
        snapshot.succeeds().json_lines().iter().map(|e| e["devices"].as_str().unwrap().to_string()).collect();
    assert_eq!(devices.len(), 2, "{snapshot:#?}");
    let index = std::fs::read_dir(dir.exp().join("snapshots")).unwrap().next().unwrap().unwrap().path();
    let index = std::fs::read_to_string(index.join("index.md")).unwrap();
    assert!(index.contains("| devices |") && index.contains("| 0,1 |"), "{index}");
    release(&dir);
    run.finish().succeeds().stderr_has("started c0 on devices").stderr_has("started c1 on devices");
}

/// Bad requests are refused before anything runs, and no lock folder is made.
#[test]
fn impossible_device_requests_exit_2_and_run_nothing() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, "true");
    let cases: &[(&[&str], &str)] = &[
        (&["--devices", "0-3", "--devices-per-config", "2", "-j", "3"], "at most 2"),
        (&["--devices", "0,1", "--devices-per-config", "3"], "more than the 2"),
        (&["--devices", ""], "no device"),
        (&["--devices", "3-0"], "a range goes up"),
        (&["--devices", "0,0"], "twice"),
        (&["--devices-per-config", "2"], "--devices"),
        (&["--memfree", "lots"], "not a size"),
    ];
    for (args, says) in cases {
        let out = runner(&dir, &locks(&dir), args).finish();
        out.fails_with(2).stderr_has(says);
    }
    assert!(!locks(&dir).exists(), "no lock folder made");
    assert!(statuses(&dir).values().all(|status| status == "todo"));
}

// ---------- memory ----------

/// A stand-in for /proc/meminfo, replaced whole (as the kernel's never
/// reads half written).
fn meminfo(dir: &Dir, total_kb: u64, available_kb: u64) -> PathBuf {
    let path = dir.path().join("meminfo");
    let new = dir.path().join("meminfo.new");
    std::fs::write(
        &new,
        format!("MemTotal: {total_kb} kB\nMemFree: 1 kB\nMemAvailable: {available_kb} kB\n"),
    )
    .unwrap();
    std::fs::rename(&new, &path).unwrap();
    path
}

/// With less than SIZE available the runner waits and says for what;
/// once memory is freed, it goes on. A SIZE above the total is refused.
#[test]
fn memfree_waits_for_memory_then_goes_on() {
    let dir = Dir::new();
    shell_experiment(&dir, 3, "true");
    let path = meminfo(&dir, 16 << 20, 512 << 10);
    let mut cmd = tool(&dir, &locks(&dir), "exp-run", &["--memfree", "1G", "-j", "2"]);
    cmd.env("EXP_MEMINFO", &path);
    let run = Bg::of(cmd);
    wait_for("the runner to wait", || run.stderr().contains("waiting for 1G free memory (512M available)"));
    assert!(statuses(&dir).values().all(|status| status == "todo"), "nothing started");
    meminfo(&dir, 16 << 20, 8 << 20);
    run.finish().succeeds();
    assert!(statuses(&dir).values().all(|status| status == "done"));

    let mut cmd = tool(&dir, &locks(&dir), "exp-run", &["--memfree", "17G"]);
    cmd.env("EXP_MEMINFO", &path);
    Bg::of(cmd).finish().fails_with(2).stderr_has("--memfree 17G").stderr_has("16G");
}

/// A real memory cgroup with a 256M limit around the runner: its limit
/// is the total (`--memfree 1G` is refused), and a smaller SIZE runs.
/// Skipped, with a note, where no cgroup can be made (not root, no
/// memory controller).
#[test]
fn memfree_counts_the_runners_memory_cgroup() {
    let test = "memfree_counts_the_runners_memory_cgroup";
    let Some(cgroup) = MemoryCgroup::make(256 << 20, test) else { return };
    let dir = Dir::new();
    shell_experiment(&dir, 2, "true");
    let inside = |size: &str| {
        let enter = format!(r#"echo $$ > {} && exec "$0" "$@""#, quote(&cgroup.procs()));
        let mut cmd = wrapped(&dir, &["sh", "-c", &enter], "exp-run", &["--memfree", size]);
        cmd.env_remove("EXP_MEMINFO");
        Bg::of(cmd).finish()
    };
    inside("1G").fails_with(2).stderr_has("256M");
    inside("16M").succeeds();
    assert!(statuses(&dir).values().all(|status| status == "done"));
}

/// A memory cgroup made for a test (v1 or v2, whichever holds the memory
/// controller), removed when dropped.
struct MemoryCgroup {
    dir: PathBuf,
}

impl MemoryCgroup {
    fn make(limit: u64, test: &str) -> Option<MemoryCgroup> {
        let skip = |why: &str| {
            eprintln!("note: {test}: skipped, {why}");
            None
        };
        if !nix::unistd::geteuid().is_root() {
            return skip("needs root to make a cgroup");
        }
        let name = format!("exp-test-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/memory");
        let v2 = Path::new("/sys/fs/cgroup");
        let (dir, limit_file) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(&name), "memory.limit_in_bytes")
        } else if std::fs::read_to_string(v2.join("cgroup.controllers")).is_ok_and(|c| c.contains("memory")) {
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+memory");
            (v2.join(&name), "memory.max")
        } else {
            return skip("no cgroup memory controller here");
        };
        if std::fs::create_dir(&dir).is_err() {
            return skip("cannot make a cgroup here");
        }
        let cgroup = MemoryCgroup { dir };
        if std::fs::write(cgroup.dir.join(limit_file), limit.to_string()).is_err() {
            return skip("cannot set a cgroup's memory limit here");
        }
        Some(cgroup)
    }

    fn procs(&self) -> PathBuf {
        self.dir.join("cgroup.procs")
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // A cgroup goes with rmdir once its last process has ended.
        for _ in 0..250 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Reviewed: a config that ran on devices is replayed with the devices its
/// provenance recorded (its argv and env made again with them), and
/// `{devices}` without `--devices` is refused for configs still to come
/// (`--follow`) and when none is selected, not recorded failed later; a
/// device name too long for a file name is bad input.
#[test]
fn a_replay_gets_its_recorded_devices_and_follow_needs_devices_up_front() {
    let dir = Dir::new();
    experiment(&dir, "c", 1, r#"echo "{devices} $EXP_DEVICES" > "$EXP_NAME.out""#);
    runner(&dir, &locks(&dir), &["--devices", "3"]).finish().succeeds();
    assert_eq!(dir.read("c0.out"), "3 3\n");
    std::fs::remove_file(dir.path().join("c0.out")).unwrap();
    Out::of(tool(&dir, &locks(&dir), "exp-run", &["--replay", "c0"]).output().unwrap()).succeeds();
    assert_eq!(dir.read("c0.out"), "3 3\n", "the recorded devices");

    // Nothing todo, or configs to come: no param can stand in.
    let out = runner(&dir, &locks(&dir), &[]).finish();
    out.fails_with(2).stderr_has("{devices}");
    let out = runner(&dir, &locks(&dir), &["--follow", "--idle-exit", "1s"]).finish();
    out.fails_with(2).stderr_has("--devices");
    assert_eq!(statuses(&dir)["c0"], "done");
    // A name too long for its lock file is bad input too.
    let long = "g".repeat(300);
    runner(&dir, &locks(&dir), &["--devices", &long]).finish().fails_with(2).stderr_has("too long");
}
