//! Ready-made experiments: configs `c0..` running a shell line, gated ones
//! whose commands wait for the test to release them, sweeps `n1..nK`, and
//! a big one.

use super::{by_name, read_pid, touch, wait_for, Bg, Dir, Out};

/// Configs `c0..c{n-1}` (param `i`) running the shell template `script`;
/// their names.
pub fn shell_experiment(dir: &Dir, n: usize, script: &str) -> Vec<String> {
    dir.init(&["--naming", "c{i}", "--shell", script], &[]);
    let grid = format!("i=0..{}", n - 1);
    assert_eq!(dir.run("exp-add", &["--grid", &grid]).succeeds().json_lines().len(), n);
    (0..n).map(|i| format!("c{i}")).collect()
}

/// Configs `c0..c{n-1}` whose command runs the shell line `before` (which
/// may end it), writes its shell's pid to `TMP/pids/NAME`, then waits in
/// short steps, counting them in `$step`, until the test calls `release`.
/// Their names.
pub fn gated_experiment(dir: &Dir, n: usize, before: &str) -> Vec<String> {
    std::fs::create_dir_all(dir.path().join("pids")).unwrap();
    // The pid file appears whole (renamed into place), never half written.
    let script = format!(
        r#"{before}
echo $$ > "pids/$EXP_NAME.tmp" && mv "pids/$EXP_NAME.tmp" "pids/$EXP_NAME"
step=0
while [ ! -e release ]; do step=$((step+1)); sleep 0.05; done"#
    );
    shell_experiment(dir, n, &script)
}

/// Configs `c0..c{n-1}` whose command logs its name to `TMP/runs.txt`
/// (see `runs`): c0 is gated, the others end at once.
pub fn c0_gated_experiment(dir: &Dir, n: usize) -> Vec<String> {
    gated_experiment(dir, n, "echo \"$EXP_NAME\" >> runs.txt\n[ \"$EXP_NAME\" = c0 ] || exit 0")
}

/// The pid of a gated config's command, once it has started.
pub fn gated_pid(dir: &Dir, name: &str) -> Option<i32> {
    read_pid(&dir.path().join("pids").join(name))
}

/// Wait until the gated configs `names` have started and show as running;
/// their commands' pids.
pub fn wait_running(dir: &Dir, names: &[&str]) -> Vec<i32> {
    for name in names {
        wait_for(&format!("{name} to start"), || gated_pid(dir, name).is_some());
    }
    wait_for("the claims to show", || {
        let rows = by_name(dir);
        names.iter().all(|name| rows[*name]["status"] == "running")
    });
    names.iter().map(|name| gated_pid(dir, name).unwrap()).collect()
}

/// Let every gated command end.
pub fn release(dir: &Dir) {
    touch(dir, "release");
}

/// Release the gated commands and let `runner` end, as it must: well.
pub fn release_runner(dir: &Dir, runner: Bg) -> Out {
    release(dir);
    let out = runner.finish();
    out.succeeds();
    out
}

/// Configs `n1..nK` (param `n`) running the shell template `script`.
pub fn sweep(dir: &Dir, script: &str, k: usize) {
    dir.init(&["--naming", "n{n}", "--shell", script], &[]);
    let grid = format!("n=1..{k}");
    assert_eq!(dir.run("exp-add", &["--grid", &grid]).succeeds().json_lines().len(), k);
}

/// An experiment whose state is a few MiB, past the size at which exp
/// stops rewriting `experiment.yaml` on every change: 8,000 configs `c0..`
/// (params `i` and a long `pad`) running `true`; their names.
pub fn big_experiment(dir: &Dir) -> Vec<String> {
    big_experiment_of(dir, &["true"])
}

/// [`big_experiment`] whose configs run the command `argv`.
pub fn big_experiment_of(dir: &Dir, argv: &[&str]) -> Vec<String> {
    dir.init(&["--naming", "c{i}"], argv);
    let pad = "x".repeat(300);
    let lines: String = (0..8000).map(|i| format!("{{\"i\":{i},\"pad\":\"{pad}\"}}\n")).collect();
    let added = dir.run_stdin("exp-add", &["-f", "-"], &lines).succeeds().json_lines();
    assert!(std::fs::metadata(dir.exp().join("experiment.yaml")).unwrap().len() > 2 << 20);
    added.iter().map(|l| l["name"].as_str().unwrap().to_string()).collect()
}
