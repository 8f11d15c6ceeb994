//! `exp-init`: creating an experiment, idempotence, refused definitions, and
//! the checks every tool makes on the experiment directory (exit 3).

use crate::harness::*;
use std::process::Stdio;

#[test]
fn creates_an_experiment_that_status_reads() {
    let dir = Dir::new();
    let out = dir.run("exp-init", &["--name", "sweep", "--", "echo", "{lr}"]);
    out.succeeds().no_stdout(); // stdout carries data only
    assert!(dir.exp().join("experiment.yaml").is_file());
    assert!(dir.status().is_empty());
    let counts = dir.run("exp-status", &["--counts", "--json"]).succeeds().json_lines();
    assert_eq!(counts, [serde_json::json!({"todo":0,"running":0,"done":0,"failed":0,"total":0})]);
}

#[test]
fn same_definition_again_is_a_no_op() {
    let dir = Dir::new();
    let args = ["--name", "n", "--default", "seed=0", "--", "echo", "{lr}", "{seed}"];
    dir.run("exp-init", &args).succeeds();
    let before = dir.state_file();
    let out = dir.run("exp-init", &args);
    out.succeeds().no_stdout();
    assert_eq!(dir.state_file(), before, "an identical exp-init changes nothing");
}

#[test]
fn a_different_definition_is_refused() {
    let dir = Dir::new();
    dir.init(&["--name", "n"], &["echo", "{lr}"]);
    let before = dir.state_file();
    let other_command = dir.run("exp-init", &["--name", "n", "--", "echo", "{x}"]);
    other_command.fails_with(2).stderr_has("command");
    let other_name = dir.run("exp-init", &["--name", "m", "--", "echo", "{lr}"]);
    other_name.fails_with(2).stderr_has("name");
    let shell = dir.run("exp-init", &["--name", "n", "--shell", "echo {lr}"]);
    shell.fails_with(2);
    assert_eq!(dir.state_file(), before);
}

#[test]
fn shell_template_is_stored_and_checked() {
    let dir = Dir::new();
    dir.run("exp-init", &["--shell", "echo {lr} | tee out.txt"]).succeeds();
    assert!(dir.read("exp/experiment.yaml").contains("echo {lr} | tee out.txt"));
    dir.run_stdin("exp-add", &[], "{\"lr\":0.1}\n").succeeds();
    let before = dir.state_file();
    let out = dir.run_stdin("exp-add", &[], "{\"x\":1}\n");
    out.fails_with(2).stderr_has("lr");
    assert_eq!(dir.state_file(), before);
}

#[test]
fn shell_and_argv_together_are_a_usage_error() {
    let dir = Dir::new();
    dir.run("exp-init", &["--shell", "echo hi", "--", "echo", "hi"]).fails_with(2);
    assert!(!dir.exp().join("experiment.yaml").exists());
}

#[test]
fn bad_definitions_exit_2_and_create_nothing() {
    let cases: &[&[&str]] = &[
        &[],                                       // no command
        &["--name", "x"],                          // still no command
        &["--", "echo", "{lr"],                    // unclosed brace
        &["--", "echo", "lr}"],                    // unmatched brace
        &["--", "echo", "{}"],                     // empty placeholder
        &["--shell", "   "],                       // empty shell command
        &["--naming", "{name}", "--", "echo"],     // builtin in a name
        &["--naming", "{dir}-{lr}", "--", "echo"], // builtin in a name
        &["--naming", "{lr", "--", "echo"],        // malformed naming
        &["--default", "novalue", "--", "echo"],   // default without =
        &["--env", "=x", "--", "echo"],            // env without key
    ];
    for args in cases {
        let dir = Dir::new();
        let out = dir.run("exp-init", args);
        out.fails_with(2);
        assert!(!out.stderr.trim().is_empty(), "{args:?}: a message: {out:?}");
        assert!(!dir.exp().join("experiment.yaml").exists(), "{args:?} created an experiment");
    }
}

#[test]
fn naming_with_a_builtin_names_it() {
    let dir = Dir::new();
    let out = dir.run("exp-init", &["--naming", "{name}-x", "--", "echo"]);
    out.fails_with(2).stderr_has("{name}");
}

#[test]
fn malformed_command_template_names_the_problem() {
    let dir = Dir::new();
    let out = dir.run("exp-init", &["--", "echo", "{lr"]);
    out.fails_with(2).stderr_has("{lr");
}

const TOOLS: [&str; 3] = ["exp-init", "exp-add", "exp-status"];

/// Run each tool on the experiment, as a user would, returning their outputs.
fn every_tool(dir: &Dir) -> Vec<(&'static str, Out)> {
    TOOLS
        .iter()
        .map(|&tool| {
            let out = match tool {
                "exp-init" => dir.run(tool, &["--", "echo", "{lr}"]),
                "exp-add" => dir.run_stdin(tool, &[], "{\"lr\":1}\n"),
                _ => dir.run(tool, &["--json"]),
            };
            (tool, out)
        })
        .collect()
}

#[test]
fn corrupt_state_is_exit_3_and_never_overwritten() {
    for garbage in [
        "configs: [unclosed\n  - {{{\n".as_bytes(),
        b"\x00\x01\x02 not yaml at all: : :\n\t- ]",
        b"configs:\n  a:\n    params: {}\n    status: exploded\n",
        b"just a string\n",
    ] {
        let dir = Dir::new();
        dir.init(&[], &["echo", "{lr}"]);
        std::fs::write(dir.exp().join("experiment.yaml"), garbage).unwrap();
        for (tool, out) in every_tool(&dir) {
            out.fails_with(3);
            assert!(out.stdout.is_empty(), "{tool}: {out:?}");
            assert!(out.stderr.contains("experiment.yaml"), "{tool}: {out:?}");
            assert_eq!(dir.state_file(), garbage, "{tool} rewrote a corrupt file");
        }
        for args in [&["--counts", "--json"][..], &["--check"], &["--names"], &[]] {
            dir.run("exp-status", args).fails_with(3);
        }
        dir.run("exp-add", &["--grid", "lr=1,2"]).fails_with(3);
        assert_eq!(dir.state_file(), garbage);
    }
}

#[test]
fn a_newer_schema_is_exit_3() {
    let dir = Dir::new();
    dir.init(&[], &["echo", "{lr}"]);
    let text = dir.read("exp/experiment.yaml");
    let (first, rest) = text.split_once('\n').unwrap();
    assert!(first.starts_with("schema_version: "), "{text}");
    let newer = format!("schema_version: 99\n{rest}");
    std::fs::write(dir.exp().join("experiment.yaml"), &newer).unwrap();
    for (tool, out) in every_tool(&dir) {
        out.fails_with(3);
        assert!(out.stderr.contains("99"), "{tool}: {out:?}");
        assert_eq!(dir.state_file(), newer.as_bytes(), "{tool}");
    }
}

#[test]
fn missing_directory_or_state_file_is_exit_3() {
    let dir = Dir::new();
    for tool in ["exp-add", "exp-status"] {
        let out = dir.run_stdin(tool, &[], "{\"lr\":1}\n");
        out.fails_with(3);
        assert!(out.stderr.contains("no such directory"), "{tool}: {out:?}");
    }
    assert!(!dir.exp().exists(), "nothing is created for a missing experiment");
    std::fs::create_dir(dir.exp()).unwrap();
    for tool in ["exp-add", "exp-status"] {
        let out = dir.run_stdin(tool, &[], "{\"lr\":1}\n");
        out.fails_with(3);
        assert!(out.stderr.contains("experiment.yaml"), "{tool}: {out:?}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.exp()).unwrap().collect();
    assert!(left.is_empty(), "nothing written into a non-experiment: {left:?}");
}

#[test]
fn exp_dir_is_honoured_without_a_dir_argument() {
    let dir = Dir::new();
    let run = |tool: &str, args: &[&str], input: &str| {
        use std::io::Write;
        let mut cmd = dir.cmd(tool);
        cmd.env("EXP_DIR", "exp")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        Out::of(child.wait_with_output().unwrap())
    };
    run("exp-init", &["--", "echo", "{lr}"], "").succeeds();
    assert!(dir.exp().join("experiment.yaml").is_file());
    let added = run("exp-add", &[], "{\"lr\":1}\n{\"lr\":2}\n");
    added.succeeds();
    assert_eq!(added.json_lines().len(), 2);
    let counts = run("exp-status", &["--counts", "--json"], "");
    counts.succeeds();
    assert_eq!(counts.json_lines()[0]["total"], 2);
    // An explicit DIR wins over EXP_DIR.
    let other = run("exp-status", &["elsewhere", "--json"], "");
    other.fails_with(3);
    // Without DIR or EXP_DIR, the current directory is the experiment.
    let mut cmd = dir.cmd("exp-status");
    cmd.current_dir(dir.exp()).arg("--json").stdin(Stdio::null());
    let here = Out::of(cmd.output().unwrap());
    here.succeeds();
    assert_eq!(here.json_lines().len(), 2);
}
