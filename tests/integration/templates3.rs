//! Trust, round 3: templates, names and grids (issue 15). Each test cites
//! its defect; each drives the real binaries as a user would.

use crate::harness::*;
use serde_json::json;
use std::path::{Path, PathBuf};

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
fn pwned(root: &Path) -> Vec<PathBuf> {
    files_under(root).into_iter().filter(|path| path.ends_with("PWNED")).collect()
}

/// The stdout of each config, by its param `x`.
fn outputs(dir: &Dir) -> Vec<(String, String)> {
    dir.status()
        .iter()
        .map(|row| {
            let name = row["name"].as_str().unwrap();
            let out = dir.config_file(name, "stdout.log");
            (row["params"]["x"].as_str().unwrap().to_string(), out)
        })
        .collect()
}

fn add_values(dir: &Dir, values: &[&str]) {
    let input: String = values.iter().map(|v| json!({ "x": v }).to_string() + "\n").collect();
    dir.run_stdin("exp-add", &[], &input).succeeds();
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
        dir.run("exp-run", &["-j2", "--progress", "never"]).succeeds();
        let outputs = outputs(&dir);
        assert_eq!(outputs.len(), HOSTILE.len());
        for (value, out) in outputs {
            // dash's `echo` reads backslashes as escapes: printf shows those.
            if template.starts_with("echo") && value.contains('\\') {
                continue;
            }
            assert_eq!(out, expected.replace("VALUE", &value), "template {template:?}, value {value:?}");
        }
        assert_eq!(pwned(dir.path()), Vec::<PathBuf>::new(), "template {template:?}");
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
        out.fails_with(2);
        assert!(out.stderr.contains("{x}"), "{template:?} does not name the placeholder: {out:?}");
        assert!(out.stderr.contains("EXP_PARAM_X"), "{template:?} gives no fix: {out:?}");
        assert!(!dir.exp().exists(), "{template:?} made an experiment");
    }
    // The same in an --update: refused, nothing changed.
    dir.init(&["--shell", "echo {x}"], &[]);
    let before = dir.state();
    let out = dir.run("exp-init", &["--update", "--shell", "echo $(echo {x})"]);
    out.fails_with(2).stderr_has("{x}");
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
        out.fails_with(2);
        assert!(out.stderr.contains("{x}"), "{tool} {args:?}: {out:?}");
        assert!(out.stderr.contains("exp-init --update"), "{tool} {args:?}: {out:?}");
        assert_eq!(dir.state(), before, "{tool} {args:?} changed the experiment");
    }
    assert_eq!(pwned(dir.path()), Vec::<PathBuf>::new());
}

/// Trust round 3, defect 1: a value with a NUL character cannot reach a
/// command through argv: exp-add refuses it (exit 2, naming the line).
#[test]
fn a_value_with_a_nul_character_is_refused_at_exp_add() {
    let dir = Dir::new();
    dir.init(&["--shell", "echo {x}"], &[]);
    let before = dir.state();
    let out = dir.run_stdin("exp-add", &[], "{\"x\":\"ok\"}\n{\"x\":\"a\\u0000b\"}\n");
    out.fails_with(2).stderr_has("line 2").stderr_has("NUL");
    assert_eq!(dir.state(), before);
}

/// Trust round 3, found the same day: exp-init warned `program "+%s.%N);" is not
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
        out.succeeds();
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
        out.succeeds();
        assert!(out.stderr.contains(&format!("program {program:?} is not found")), "{template:?}: {out:?}");
    }
}

/// Trust round 3, found the same day: exp-add called a key "not used" when the naming
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
    out.succeeds().stderr_lacks("\"seed\"").stderr_lacks("\"opt\"").stderr_has("key \"dropuot\" is not used");
    // a real typo is still named
}

/// Trust round 3, found the same day: `--naming 'lr{lr:.2e}'` was accepted, then every
/// config failed at exp-add with a wrong hint (`--default lr:.2e=VALUE`).
/// Python's format specs for numbers now work in every template, exactly
/// as Python formats; a param whose key really is `lr:.2e` wins.
#[test]
fn python_format_specs_name_configs_and_fill_commands() {
    let dir = Dir::new();
    dir.init(
        &[
            "--naming",
            "lr{lr:.2e}-C{C:.3g}-i{i:03d}-x{x:.4f}",
            "--shell",
            r#"echo {lr:.2e} "{i:03d}" w{worker:02d}"#,
        ],
        &[],
    );
    let added = dir
        .run(
            "exp-add",
            &["--grid", "lr=0.001,0.0001", "--grid", "C=12345.678", "--grid", "i=7", "--grid", "x=0.5"],
        )
        .succeeds()
        .json_lines();
    let names: Vec<&str> = added.iter().map(|line| line["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lr1.00e-03-C1.23e_04-i007-x0.5000", "lr1.00e-04-C1.23e_04-i007-x0.5000"]);
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(dir.config_file(names[0], "stdout.log"), "1.00e-03 007 w00\n");

    // In the argv form too.
    let dir = Dir::new();
    dir.init(
        &["--naming", "n{n:+.1%}"],
        &["sh", "-c", r#"printf '%s\n' "$1""#, "sh", "{n:_d}|{n:>8.2f}|{n:x}"],
    );
    let added = dir.run("exp-add", &["--grid", "n=1234567"]).succeeds().json_lines();
    assert_eq!(added[0]["name"], "n_123456700.0_");
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    assert_eq!(dir.read("exp/configs/n_123456700.0_/stdout.log"), "1_234_567|1234567.00|12d687\n");
}

/// Trust round 3, found the same day: a spec that is not one is refused at exp-init
/// with the right hint; a spec on a value that is not a number (or a float
/// for an integer type) is refused at exp-add, naming the line; a missing
/// param is named as the param, not as `lr:.2e`.
#[test]
fn format_specs_that_cannot_apply_are_refused_with_the_right_hint() {
    let dir = Dir::new();
    for naming in ["lr{lr:.2q}", "lr{lr:.e}x", "{lr:,x}", "{name:03d}", "{worker:02d}"] {
        let out = dir.run("exp-init", &["--naming", naming, "--", "true"]);
        out.fails_with(2);
        assert!(out.stderr.contains("--naming"), "{naming}: {out:?}");
        assert!(!dir.exp().exists());
    }
    let out = dir.run("exp-init", &["--naming", "lr{lr:.2q}", "--", "true"]);
    out.stderr_has("format specs are Python's for numbers");

    dir.init(&["--naming", "m{model:.2f}-i{i:03d}-lr{lr:.2e}"], &["true"]);
    let before = dir.state();
    for (line, says) in [
        (r#"{"model":"adam","i":1,"lr":0.1}"#, "\"adam\" is not a number"),
        (r#"{"model":1,"i":1.5,"lr":0.1}"#, "1.5 is not an integer"),
        (r#"{"model":1,"i":1,"lr":true}"#, "true is not a number"),
    ] {
        let out = dir.run_stdin("exp-add", &[], &format!("{{\"model\":0,\"i\":0,\"lr\":0}}\n{line}\n"));
        out.fails_with(2);
        assert!(out.stderr.contains("line 2") && out.stderr.contains(says), "{line}: {out:?}");
        assert_eq!(dir.state(), before);
    }
    let out = dir.run_stdin("exp-add", &[], "{\"model\":1,\"i\":1}\n");
    out.fails_with(2).stderr_has("--default lr=VALUE");
    // A param whose key really is `lr:.2e` wins.
    let added = dir
        .run_stdin("exp-add", &[], "{\"model\":1.5,\"i\":2,\"lr\":0.5,\"lr:.2e\":\"raw\"}\n")
        .succeeds()
        .json_lines();
    assert_eq!(added[0]["name"], "m1.50-i002-lrraw");
}

/// Trust round 3, found the same day: a name could start with `-`, so
/// `exp-status --log -rf` took it for options. New names never start with
/// `-` (nor with `.`); a name already given never changes.
#[test]
fn new_names_never_start_with_a_dash() {
    let dir = Dir::new();
    dir.init(&["--naming", "{x}"], &["sh", "-c", "echo ran"]);
    let added = dir
        .run_stdin("exp-add", &[], "{\"x\":\"-rf\"}\n{\"x\":\"_rf\"}\n{\"x\":\"--\"}\n")
        .succeeds()
        .json_lines();
    let names: Vec<&str> = added.iter().map(|line| line["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|name| !name.starts_with('-')), "{names:?}");
    assert_eq!(names.len(), 3);
    dir.run("exp-run", &["--progress", "never"]).succeeds();
    for name in names {
        let out = dir.run("exp-status", &["--log", name]);
        out.succeeds();
        assert!(out.stdout.contains("ran"), "{name}: {out:?}");
    }
}

/// Trust round 3, found the same day: `--grid C=0.001..1000:x10`, a geometric range,
/// was refused. It gives 0.001, 0.01, 0.1, 1, 10, 100, 1000, exact for
/// decimals (never 0.0010000000000000002); a factor of 1 or less, or a
/// start that is not positive, is refused with a hint.
#[test]
fn geometric_grid_ranges_are_exact_for_decimals() {
    let dir = Dir::new();
    dir.init(&[], &["true"]);
    let values = |grid: &str| -> Vec<String> {
        dir.run("exp-add", &["--grid", grid])
            .succeeds()
            .json_lines()
            .iter()
            .map(|line| line["params"].as_object().unwrap().values().next().unwrap().to_string())
            .collect()
    };
    assert_eq!(values("C=0.001..1000:x10"), ["0.001", "0.01", "0.1", "1.0", "10.0", "100.0", "1000.0"]);
    assert_eq!(values("n=1..1000:x10"), ["1", "10", "100", "1000"]);
    assert_eq!(values("b=1..100:x3"), ["1", "3", "9", "27", "81"]);
    assert_eq!(values("lr=1e-5..1e-2:x10"), ["0.00001", "0.0001", "0.001", "0.01"]);
    assert_eq!(values("h=0.1..1:x1.5"), ["0.1", "0.15", "0.225", "0.3375", "0.50625", "0.759375"]);
    assert_eq!(values("w=0.3..0.3:x2"), ["0.3"]);
    let before = dir.state();
    for bad in [
        "C=0.001..1000:x1",
        "C=0.001..1000:x0.5",
        "C=0.001..1000:x-10",
        "C=0..1000:x10",
        "C=-1..1000:x10",
        "C=10..1:x10",
        "C=1..10:x",
        "C=1..10:xabc",
        "C=1e-300..1e300:x1.0000001",
    ] {
        let out = dir.run("exp-add", &["--grid", bad]);
        out.fails_with(2);
        assert!(out.stderr.contains(bad), "{bad}: names the argument: {out:?}");
        assert!(out.stderr.contains("e.g."), "{bad}: gives a hint: {out:?}");
        assert_eq!(dir.state(), before, "{bad}");
    }
}

/// Trust round 3, found the same day: params `a-b` and `a_b` both map to
/// `EXP_PARAM_A_B`, and one silently won. exp-add warns, once, naming both.
#[test]
fn params_that_share_an_environment_variable_are_warned_about_once() {
    let dir = Dir::new();
    dir.init(&["--default", "LR=1"], &["sh", "-c", "exit 0", "sh", "{a-b}", "{a_b}", "{lr}"]);
    let input = "{\"a-b\":1,\"a_b\":2,\"lr\":0.1}\n{\"a-b\":3,\"a_b\":4,\"lr\":0.2}\n";
    let out = dir.run_stdin("exp-add", &[], input);
    out.succeeds();
    let warnings: Vec<&str> = out.stderr.lines().filter(|line| line.contains("EXP_PARAM_A_B")).collect();
    assert_eq!(warnings.len(), 1, "{out:?}");
    assert!(warnings[0].contains("\"a-b\"") && warnings[0].contains("\"a_b\""), "{out:?}");
    let warnings: Vec<&str> = out.stderr.lines().filter(|line| line.contains("EXP_PARAM_LR")).collect();
    assert_eq!(warnings.len(), 1, "a default counts too: {out:?}");
    assert!(warnings[0].contains("\"LR\"") && warnings[0].contains("\"lr\""), "{out:?}");
    // Keys never in one config together share nothing; an array has no variable.
    let dir = Dir::new();
    dir.init(&[], &["sh", "-c", "exit 0", "sh", "{x}"]);
    let out = dir.run_stdin(
        "exp-add",
        &[],
        "{\"x\":1,\"a-b\":1}\n{\"x\":2,\"a_b\":2}\n{\"x\":3,\"c-d\":[1],\"c_d\":2}\n",
    );
    out.succeeds().stderr_lacks("both");
}
