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

use crate::harness::slurm::*;
use crate::harness::*;
use std::collections::{BTreeMap, BTreeSet};

/// The `NAME TASK` lines the commands appended to `TMP/log.txt`, by name.
fn ran_by(dir: &Dir) -> BTreeMap<String, Vec<String>> {
    let mut ran: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default().lines() {
        let (name, task) = line.split_once(' ').unwrap_or((line, ""));
        ran.entry(name.to_string()).or_default().push(task.to_string());
    }
    ran
}

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
    let script = repo("examples/slurm-array.sbatch");
    let out = Out::of(
        slurm
            .cmd("sbatch")
            .args(["--parsable", "--array=0-1", "--cpus-per-task=1", "--time=5"])
            .arg(format!("--chdir={}", dir.path().display()))
            .arg(format!("--output={}/slurm-%A_%a.out", dir.path().display()))
            .arg("--export=ALL")
            .env("EXP_DIR", dir.exp())
            .env("PATH", path_with_tools())
            .arg(&script)
            .output()
            .expect("spawn sbatch"),
    );
    out.succeeds();
    let job = slurm.job(&out);
    job.wait_gone();
    let rows = by_name(&dir);
    assert_eq!(with_status(&rows, "done").len(), names.len(), "{rows:#?}");
    assert!(ran_by(&dir).values().all(|tasks| tasks.len() == 1), "{:?}", ran_by(&dir));
}
