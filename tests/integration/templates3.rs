//! Trust, round 3: templates, names and grids (issue 15). Each test cites
//! its defect; each drives the real binaries as a user would.

use crate::util::*;
use serde_json::json;
use std::path::Path;

/// Values that would run `touch PWNED` if they were ever taken as code,
/// in every quoting a template could give them.
const HOSTILE: &[&str] = &[
    "$(touch PWNED)",
    "a; touch PWNED; :",
    "`touch PWNED`",
    "'; touch PWNED; '",
    "\"; touch PWNED; \"",
    "'\\''; touch PWNED; '\\''",
    "\\",
    "x\\",
    "it's \"quoted\" \\n $HOME ${HOME} !! *",
    "line 1\nline 2; touch PWNED",
    "",
    "0.001",
];

/// Every file named PWNED under `root`.
fn pwned(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if entry.file_name() == "PWNED" {
                found.push(path);
            }
        }
    }
    found
}

/// The stdout of each config, by its param `x`.
fn outputs(dir: &Dir) -> Vec<(String, String)> {
    dir.status()
        .iter()
        .map(|row| {
            let name = row["name"].as_str().unwrap();
            let out = dir.read(&format!("exp/configs/{name}/stdout.log"));
            (row["params"]["x"].as_str().unwrap().to_string(), out)
        })
        .collect()
}

fn add_values(dir: &Dir, values: &[&str]) {
    let input: String = values.iter().map(|v| json!({ "x": v }).to_string() + "\n").collect();
    dir.run_stdin("exp-add", &[], &input).success();
}

/// Trust round 3, defect 1: `echo "loss for {x}"` with `x = $(touch PWNED)`
/// ran `touch`, and so did `echo '{x}'` with `x = a; touch PWNED; :`: the
/// quotes around a placeholder broke the quoting of its value.
#[test]
fn a_value_inside_quotes_of_a_shell_template_is_data_never_code() {
    for (template, expected) in [
        (r#"echo "loss for {x}""#, "loss for VALUE\n"),
        ("echo '{x}'", "VALUE\n"),
        (r#"echo "[{x}]" '[{x}]' [{x}]"#, "[VALUE] [VALUE] [VALUE]\n"),
        (
            r#"printf '%s|' "{x}" '{x}' {x} "-{x}-"'-{x}-'-{x}-; echo"#,
            "VALUE|VALUE|VALUE|-VALUE--VALUE--VALUE-|\n",
        ),
    ] {
        let dir = Dir::new();
        dir.init(&["--shell", template], &[]);
        add_values(&dir, HOSTILE);
        dir.run("exp-run", &["-j2", "--progress", "never"]).success();
        let outputs = outputs(&dir);
        assert_eq!(outputs.len(), HOSTILE.len());
        for (value, out) in outputs {
            // dash's `echo` reads backslashes as escapes: printf shows those.
            if template.starts_with("echo") && value.contains('\\') {
                continue;
            }
            assert_eq!(out, expected.replace("VALUE", &value), "template {template:?}, value {value:?}");
        }
        assert_eq!(pwned(dir.path()), Vec::<std::path::PathBuf>::new(), "template {template:?}");
    }
}

/// Trust round 3, defect 1: where exp cannot quote a value (inside `$(...)`,
/// backquotes, `${...}`, `$((...))`, a here-document, a comment, after a
/// backslash or a `$`), exp-init refuses the template, naming the
/// placeholder and the fix.
#[test]
fn exp_init_refuses_a_placeholder_where_it_cannot_be_quoted() {
    let dir = Dir::new();
    for template in [
        "echo $(echo {x})",
        r#"echo "$(echo {x})""#,
        "echo `echo {x}`",
        "echo ${{HOME:-{x}}}",
        "echo $(( {x} + 1 ))",
        "cat <<EOF\n{x}\nEOF",
        "echo hi # {x}",
        r"echo \{x}",
        r#"echo "\{x}""#,
        "echo ${x}",
        "echo $'{x}'",
        r#"echo $"{x}""#,
    ] {
        let out = dir.run("exp-init", &["--shell", template]);
        out.code(2);
        assert!(out.stderr.contains("{x}"), "{template:?} does not name the placeholder: {out:?}");
        assert!(out.stderr.contains("EXP_PARAM_X"), "{template:?} gives no fix: {out:?}");
        assert!(!dir.exp().exists(), "{template:?} made an experiment");
    }
    // The same in an --update: refused, nothing changed.
    dir.init(&["--shell", "echo {x}"], &[]);
    let before = dir.state();
    let out = dir.run("exp-init", &["--update", "--shell", "echo $(echo {x})"]);
    out.code(2);
    assert!(out.stderr.contains("{x}"), "{out:?}");
    assert_eq!(dir.state(), before);
}

/// Trust round 3, defect 1: a template stored before exp refused such
/// positions makes exp-run (and its --dry-run) and exp-add exit 2, saying
/// that `exp-init --update` replaces it; nothing runs, nothing changes.
#[test]
fn a_stored_template_that_is_now_refused_stops_exp_run_and_exp_add() {
    let dir = Dir::new();
    dir.init(&["--shell", "echo QQ{x}QQ"], &[]);
    add_values(&dir, &["$(touch PWNED)"]);
    let path = dir.exp().join("experiment.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("QQ{x}QQ"), "{text}");
    std::fs::write(&path, text.replace("QQ{x}QQ", "$(echo {x})")).unwrap();
    let before = dir.state();
    for (tool, args) in
        [("exp-run", &[][..]), ("exp-run", &["--dry-run"][..]), ("exp-add", &["--grid", "x=1"][..])]
    {
        let out = dir.run(tool, args);
        out.code(2);
        assert!(out.stderr.contains("{x}"), "{tool} {args:?}: {out:?}");
        assert!(out.stderr.contains("exp-init --update"), "{tool} {args:?}: {out:?}");
        assert_eq!(dir.state(), before, "{tool} {args:?} changed the experiment");
    }
    assert_eq!(pwned(dir.path()), Vec::<std::path::PathBuf>::new());
}

/// Trust round 3, defect 1: a value with a NUL character cannot reach a
/// command through argv: exp-add refuses it (exit 2, naming the line).
#[test]
fn a_value_with_a_nul_character_is_refused_at_exp_add() {
    let dir = Dir::new();
    dir.init(&["--shell", "echo {x}"], &[]);
    let before = dir.state();
    let out = dir.run_stdin("exp-add", &[], "{\"x\":\"ok\"}\n{\"x\":\"a\\u0000b\"}\n");
    out.code(2);
    assert!(out.stderr.contains("line 2") && out.stderr.contains("NUL"), "{out:?}");
    assert_eq!(dir.state(), before);
}

/// Trust round 3, defect 2: exp-init warned `program "+%s.%N);" is not
/// found` for a working shell template: it guessed the program of a shell
/// line wrongly. It now warns only when it is sure which program runs.
#[test]
fn exp_init_warns_of_a_missing_program_only_when_sure() {
    for template in [
        "start=$(date +%s.%N); python3 x.py {lr}",
        "X=\"a b\" nosuchprog {lr}",
        "\"nosuchprog\" {lr}",
        "if true; then nosuchprog {lr}; fi",
        "{{ nosuchprog {lr}; }}",
        "(nosuchprog {lr})",
        "exec nosuchprog {lr}",
        "time nosuchprog {lr}",
        "nosuch$(echo prog) {lr}",
        "! nosuchprog {lr}",
        "cd /tmp && nosuchprog {lr}",
    ] {
        let dir = Dir::new();
        let out = dir.run("exp-init", &["--shell", template]);
        out.success();
        assert!(!out.stderr.contains("not found"), "{template:?}: {out:?}");
    }
    for (template, program) in [
        ("nosuchprog --lr {lr}", "nosuchprog"),
        ("  nosuchprog --lr {lr} | tee log", "nosuchprog"),
        ("CUDA_VISIBLE_DEVICES=0 nosuchprog {lr}", "nosuchprog"),
        ("./nosuch.sh {lr}; echo", "./nosuch.sh"),
    ] {
        let dir = Dir::new();
        let out = dir.run("exp-init", &["--shell", template]);
        out.success();
        assert!(out.stderr.contains(&format!("program {program:?} is not found")), "{template:?}: {out:?}");
    }
}

/// Trust round 3, defect 3: exp-add called a key "not used" when the naming
/// template used it.
#[test]
fn a_key_the_naming_template_uses_is_not_called_unused() {
    let dir = Dir::new();
    dir.init(&["--naming", "run-{seed}-{opt.name}"], &["sh", "-c", "exit 0", "sh", "{lr}"]);
    let out = dir.run(
        "exp-add",
        &[
            "--grid",
            "lr=0.1",
            "--grid",
            "seed=1",
            "--grid",
            r#"opt={"name":"adam"}"#,
            "--grid",
            "dropuot=0.5",
        ],
    );
    out.success();
    assert!(!out.stderr.contains("\"seed\""), "{out:?}");
    assert!(!out.stderr.contains("\"opt\""), "{out:?}");
    assert!(out.stderr.contains("key \"dropuot\" is not used"), "a real typo is still named: {out:?}");
}
