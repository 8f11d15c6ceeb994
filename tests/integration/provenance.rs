//! `provenance.json` in real git repositories (clean, dirty, a commit made
//! mid-run, one owned by another user), outside git, and under Slurm;
//! `--require-clean`, `--record-env`, retries and replays, `commit` in
//! `exp-status --json` and `exp-summary --provenance`.
//!
//! Each test makes its own repository with `git init` in its temp dir,
//! which is the experiment's workdir; the experiment (`exp/`) is an
//! untracked folder inside it, as a user's `runs/` usually is.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};

/// `git ARGS` in the test's folder as a user with a name, asserting
/// success; its stdout.
fn git(dir: &Dir, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A repository in the test's folder (branch `main`) with one commit of
/// `train.sh` and `weights.bin`; HEAD's commit.
fn repository(dir: &Dir) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.path().join("train.sh"), "echo training\n").unwrap();
    std::fs::write(dir.path().join("weights.bin"), [0u8, 1, 2, 255, 0, 7]).unwrap();
    git(dir, &["add", "train.sh", "weights.bin"]);
    git(dir, &["commit", "-q", "-m", "first"]);
    head(dir)
}

fn head(dir: &Dir) -> String {
    git(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A config's `provenance.json` (or `provenance.N.json`), parsed.
fn provenance(dir: &Dir, name: &str, file: &str) -> Value {
    serde_json::from_str(&dir.config_file(name, file)).unwrap_or_else(|e| panic!("{name}/{file}: {e}"))
}

/// `exp-run ARGS` outside any Slurm job, whatever the test runs in.
fn run(dir: &Dir, args: &[&str]) -> Out {
    let mut cmd = dir.cmd("exp-run");
    for var in ["SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURMD_NODENAME"] {
        cmd.env_remove(var);
    }
    Out::of(cmd.arg("exp").args(args).arg("--progress").arg("never").stdin(Stdio::null()).output().unwrap())
}

/// The sha256 of a file, as `sha256sum` prints it.
fn sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

/// The names of the files in `DIR/patches`, none when it is missing.
fn patches(dir: &Dir) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.exp().join("patches")) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_clean_tree_records_its_commit_branch_and_untracked_count_and_no_patch() {
    let dir = Dir::new();
    let commit = repository(&dir);
    let names = shell_experiment(&dir, 2, "sh train.sh");
    run(&dir, &["-j", "2"]).succeeds();

    let rows = by_name(&dir);
    for name in &names {
        let p = provenance(&dir, name, "provenance.json");
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "exp_version",
                "host",
                "user",
                "runner",
                "started",
                "workdir",
                "argv",
                "devices",
                "slurm",
                "git",
                "env"
            ],
            "exactly these fields, in this order"
        );
        assert_eq!(p["exp_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(p["host"], rows[name]["host"]);
        assert_eq!(p["user"], whoami());
        assert_eq!(
            p["runner"],
            provenance(&dir, &names[0], "provenance.json")["runner"],
            "one runner ran both"
        );
        assert_eq!(p["started"], rows[name]["start_time"], "the attempt's start");
        assert_eq!(p["workdir"], dir.path().to_str().unwrap());
        let command: Value = serde_json::from_str(&dir.config_file(name, "command.json")).unwrap();
        assert_eq!(p["argv"], command);
        assert_eq!(
            (p["devices"].clone(), p["slurm"].clone(), p["env"].clone()),
            (Value::Null, Value::Null, json!({}))
        );
        assert_eq!(
            p["git"],
            json!({"commit": commit, "branch": "main", "dirty": false, "untracked": 1, "patch": null}),
            "exp/ is the one untracked path"
        );
        assert_eq!(rows[name]["commit"], commit.as_str(), "exp-status --json has the commit");
    }
    assert!(patches(&dir).is_empty(), "a clean tree stores no patch");
}

/// Who the tests run as, by name.
fn whoami() -> String {
    String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string()
}

#[test]
fn a_dirty_tree_stores_its_diff_once_and_every_attempt_names_it() {
    let dir = Dir::new();
    let commit = repository(&dir);
    // A change staged, one not, a binary one, and two untracked files.
    std::fs::write(dir.path().join("train.sh"), "echo training harder\n").unwrap();
    git(&dir, &["add", "train.sh"]);
    std::fs::write(dir.path().join("train.sh"), "echo training harder\necho twice\n").unwrap();
    std::fs::write(dir.path().join("weights.bin"), [9u8, 0, 0, 255]).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "").unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/a.csv"), "").unwrap();
    let names = shell_experiment(&dir, 2, "true");
    run(&dir, &["-j", "2"]).succeeds();

    let diff = git(&dir, &["diff", "HEAD", "--no-color", "--no-ext-diff", "--binary"]);
    assert!(diff.contains("GIT binary patch"), "{diff}");
    let stored = patches(&dir);
    assert_eq!(stored.len(), 1, "one content, one file: {stored:?}");
    let path = dir.exp().join("patches").join(&stored[0]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), diff, "the stored patch is git diff HEAD");
    let sha = sha256(&path);
    assert_eq!(stored[0], format!("{sha}.patch"));
    for name in &names {
        let p = provenance(&dir, name, "provenance.json");
        assert_eq!(
            p["git"],
            json!({"commit": commit, "branch": "main", "dirty": true, "untracked": 3, "patch": sha}),
            "exp/, notes.txt and data/ are untracked"
        );
    }
}

#[test]
fn a_commit_made_while_a_follow_runner_waits_is_seen_by_the_configs_started_after_it() {
    let dir = Dir::new();
    let first = repository(&dir);
    shell_experiment(&dir, 1, "true");
    let runner = Bg::run(&dir, &["--follow", "--progress", "never"]);
    wait_for("c0 to be done", || by_name(&dir)["c0"]["status"] == "done");

    std::fs::write(dir.path().join("train.sh"), "echo v2\n").unwrap();
    git(&dir, &["commit", "-q", "-am", "second"]);
    let second = head(&dir);
    assert_ne!(first, second);
    dir.run("exp-add", &["--grid", "i=1"]).succeeds();
    wait_for("c1 to be done", || by_name(&dir).get("c1").is_some_and(|row| row["status"] == "done"));
    // Dirty now: the index is not touched, so nothing is read until it is.
    std::fs::write(dir.path().join("train.sh"), "echo v3\n").unwrap();
    git(&dir, &["add", "train.sh"]);
    dir.run("exp-add", &["--grid", "i=2"]).succeeds();
    wait_for("c2 to be done", || by_name(&dir).get("c2").is_some_and(|row| row["status"] == "done"));
    runner.signal(nix::sys::signal::Signal::SIGTERM);
    runner.finish();

    let rows = by_name(&dir);
    let seen: Vec<(Value, Value, Value)> = ["c0", "c1", "c2"]
        .iter()
        .map(|name| {
            let git = provenance(&dir, name, "provenance.json")["git"].clone();
            (git["commit"].clone(), git["dirty"].clone(), rows[*name]["commit"].clone())
        })
        .collect();
    assert_eq!(
        seen,
        [
            (json!(first), json!(false), json!(first)),
            (json!(second), json!(false), json!(second)),
            (json!(second), json!(true), json!(second)),
        ]
    );
    assert_eq!(patches(&dir).len(), 1);
}

#[test]
fn outside_git_the_git_field_is_null_and_the_commit_unknown() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "true");
    run(&dir, &[]).succeeds();
    let p = provenance(&dir, "c0", "provenance.json");
    assert!(p["git"].is_null(), "{p}");
    assert!(by_name(&dir)["c0"]["commit"].is_null());
    assert!(patches(&dir).is_empty());
}

#[test]
fn the_devices_a_config_held_are_named() {
    let dir = Dir::new();
    shell_experiment(&dir, 2, "true");
    let mut cmd = dir.cmd("exp-run");
    cmd.arg("exp").args(["--devices", "0-3", "--devices-per-config", "2", "--progress", "never"]);
    let locks = dir.path().join("locks");
    Out::of(cmd.env("EXP_DEVICE_LOCKS", &locks).env_remove("CUDA_VISIBLE_DEVICES").output().unwrap())
        .succeeds();
    for name in ["c0", "c1"] {
        let p = provenance(&dir, name, "provenance.json");
        let devices = p["devices"].as_array().unwrap_or_else(|| panic!("{p}"));
        assert_eq!(devices.len(), 2, "{p}");
        assert_eq!(p["env"], json!({}));
    }
}

#[test]
fn require_clean_refuses_a_dirty_tree_naming_the_file_and_runs_a_clean_one() {
    let dir = Dir::new();
    repository(&dir);
    shell_experiment(&dir, 2, "true");
    std::fs::write(dir.path().join("train.sh"), "echo changed\n").unwrap();
    let before = dir.state();
    run(&dir, &["--require-clean"])
        .fails_with(2)
        .stderr_has("train.sh")
        .stderr_has("--require-clean")
        .no_stdout();
    assert_eq!(dir.state(), before, "nothing changed");
    assert!(!dir.exp().join("configs/c0").exists(), "nothing ran");
    // Untracked files are no reason to refuse.
    std::fs::write(dir.path().join("train.sh"), "echo training\n").unwrap();
    std::fs::write(dir.path().join("scratch.txt"), "").unwrap();
    run(&dir, &["--require-clean"]).succeeds();
    assert_eq!(statuses(&dir).values().collect::<Vec<_>>(), ["done", "done"]);
}

#[test]
fn require_clean_refuses_a_workdir_outside_git() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "true");
    let before = dir.state();
    run(&dir, &["--require-clean"]).fails_with(2).stderr_has("not in a git work tree");
    assert_eq!(dir.state(), before);
    assert!(!dir.exp().join("configs/c0").exists());
}

#[test]
fn record_env_records_only_the_matching_variables_and_a_star_warns() {
    let dir = Dir::new();
    shell_experiment(&dir, 1, "true");
    let mut cmd = dir.cmd("exp-run");
    cmd.arg("exp").args(["--record-env", "MY_*", "--record-env", "EXP_NAM?", "--progress", "never"]);
    let out = Out::of(cmd.env("MY_A", "1").env("MY_B", "two").env("OTHER", "x").output().unwrap());
    out.succeeds().stderr_lacks("secrets");
    let env = &provenance(&dir, "c0", "provenance.json")["env"];
    assert_eq!(
        env,
        &json!({"EXP_NAME": "c0", "MY_A": "1", "MY_B": "two"}),
        "the command's own variables too"
    );

    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c0\n").succeeds();
    let mut cmd = dir.cmd("exp-run");
    cmd.arg("exp").args(["--record-env", "*", "--progress", "never"]);
    let out = Out::of(cmd.env("MY_SECRET", "s3cr3t").output().unwrap());
    out.succeeds().stderr_has("--record-env '*'").stderr_has("secrets");
    assert_eq!(provenance(&dir, "c0", "provenance.json")["env"]["MY_SECRET"], "s3cr3t");
    run(&dir, &["--record-env", ""]).fails_with(2).stderr_has("--record-env");
}

#[test]
fn earlier_attempts_keep_their_provenance_and_a_replay_writes_none() {
    let dir = Dir::new();
    // Fails at its first attempt, passes at its second.
    shell_experiment(&dir, 1, r#"test "$EXP_ATTEMPT" -ge 2"#);
    run(&dir, &["--retries", "1"]).succeeds();
    let first = provenance(&dir, "c0", "provenance.1.json");
    let second = provenance(&dir, "c0", "provenance.json");
    assert!(first["started"].as_str() < second["started"].as_str(), "{first} {second}");
    assert_eq!(by_name(&dir)["c0"]["start_time"], second["started"]);

    // A reset and a third attempt: the second's is kept as provenance.2.json.
    dir.run_stdin("exp-clean", &["--names", "-", "--reset"], "c0\n").succeeds();
    run(&dir, &[]).succeeds();
    assert_eq!(provenance(&dir, "c0", "provenance.2.json"), second);
    let third = dir.config_file("c0", "provenance.json");

    run(&dir, &["--replay", "c0"]).succeeds();
    assert_eq!(dir.config_file("c0", "provenance.json"), third, "a replay writes none");
    let mut files: Vec<String> = std::fs::read_dir(dir.config("c0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("provenance"))
        .collect();
    files.sort();
    assert_eq!(files, ["provenance.1.json", "provenance.2.json", "provenance.json"]);

    // --purge takes the folder, provenance and all.
    dir.run_stdin("exp-clean", &["--names", "-", "--purge"], "c0\n").succeeds();
    assert!(!dir.config("c0").exists());
}

#[test]
fn exp_summary_provenance_adds_commit_dirty_and_host_columns() {
    let dir = Dir::new();
    let commit = repository(&dir);
    // A param named `host` keeps its values, as `param.host`.
    dir.init(&["--naming", "c{i}", "--shell", r#"echo '{{"loss": 1}}'"#], &[]);
    dir.run("exp-add", &["--grid", "i=0..1", "--grid", "host=a"]).succeeds();
    run(&dir, &["--limit", "1"]).succeeds();

    let out = dir.run("exp-summary", &["--provenance", "--ignore-missing"]).succeeds().stdout.clone();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "name,i,param.host,loss,status,git.commit,git.dirty,host");
    let host = by_name(&dir)["c0"]["host"].as_str().unwrap().to_string();
    assert_eq!(lines[1], format!("c0,0,a,1,done,{commit},false,{host}"));
    assert_eq!(lines[2], "c1,1,a,,todo,,,", "a config that never ran has none");
    let plain = dir.run("exp-summary", &["--ignore-missing"]).succeeds().stdout.clone();
    assert_eq!(plain.lines().next().unwrap(), "name,i,param.host,loss,status", "reserved whatever the flags");

    let json =
        dir.run("exp-summary", &["--provenance", "--ignore-missing", "--json"]).succeeds().json_lines();
    assert_eq!(json[0]["provenance"], provenance(&dir, "c0", "provenance.json"));
    assert!(json[1]["provenance"].is_null());
}

#[test]
fn a_repository_owned_by_another_user_is_read() {
    let test = "a_repository_owned_by_another_user_is_read";
    if !is_root(test) {
        return;
    }
    let dir = Dir::new();
    let commit = repository(&dir);
    std::fs::write(dir.path().join("train.sh"), "echo mine\n").unwrap();
    shell_experiment(&dir, 1, "true");
    // The repository becomes uid 1000's; the experiment stays ours.
    for path in [".git", "train.sh", "weights.bin"] {
        let status = Command::new("chown").args(["-R", "1000:1000"]).arg(dir.path().join(path)).status();
        assert!(status.unwrap().success());
    }
    let status = Command::new("chown").arg("1000:1000").arg(dir.path()).status();
    assert!(status.unwrap().success());
    // No configuration of this machine's may waive git's check of the owner.
    let no_config = [("GIT_CONFIG_GLOBAL", "/dev/null"), ("GIT_CONFIG_NOSYSTEM", "1")];
    let refused = Command::new("git").arg("status").envs(no_config).current_dir(dir.path()).output().unwrap();
    assert!(!refused.status.success(), "plain git refuses a repository of another user");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("dubious ownership"));

    let run = |args: &[&str]| {
        let mut cmd = dir.cmd("exp-run");
        Out::of(cmd.arg("exp").args(args).args(["--progress", "never"]).envs(no_config).output().unwrap())
    };
    run(&["--require-clean"]).fails_with(2).stderr_has("train.sh");
    run(&[]).succeeds();
    let p = provenance(&dir, "c0", "provenance.json");
    assert_eq!((p["git"]["commit"].clone(), p["git"]["dirty"].clone()), (json!(commit), json!(true)), "{p}");
    assert_eq!(patches(&dir).len(), 1);
}

#[test]
fn under_slurm_each_attempt_records_its_job_array_task_and_node() {
    use crate::harness::slurm::*;
    let Some(slurm) = slurm() else { return };
    let dir = Dir::new();
    repository(&dir);
    let names = shell_experiment(&dir, 4, "sleep 0.2");
    let job = slurm.sbatch(
        &dir,
        "provenance",
        "0-1",
        &format!("{}\n{RECORD_EXIT}", exp_run(&dir, "--progress never")),
    );
    wait_tasks(&dir, &job, 2);

    let mut tasks = std::collections::BTreeSet::new();
    for name in &names {
        let p = provenance(&dir, name, "provenance.json");
        let slurm = &p["slurm"];
        assert_eq!(slurm["array_job_id"], job.id.as_str(), "{p}");
        assert!(slurm["job_id"].as_str().is_some_and(|id| id.parse::<u64>().is_ok()), "{p}");
        assert!(slurm["node"].as_str().is_some_and(|node| !node.is_empty()), "{p}");
        let task = slurm["array_task_id"].as_str().unwrap().to_string();
        assert!(["0", "1"].contains(&task.as_str()), "{p}");
        tasks.insert(task);
        assert_eq!(p["git"]["commit"], head(&dir));
    }
    assert!(!tasks.is_empty());
}
