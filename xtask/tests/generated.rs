//! man/ and completions/ are generated (`cargo xtask gen`) and committed:
//! these tests fail when they are stale, and check that what is generated
//! works (roff that man renders, shell scripts that parse, config names
//! completed from `exp-status --names`).

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn committed_man_pages_and_completions_are_up_to_date() {
    let root = xtask::workspace_root();
    let files = xtask::generate(&root).expect("generate");
    // Write them where `gen` would, in a temp dir, and read them back.
    let tmp = tempfile::tempdir().unwrap();
    xtask::write(tmp.path(), &files).unwrap();
    let generated = xtask::read(tmp.path()).unwrap();
    assert_eq!(generated.keys().collect::<Vec<_>>(), files.keys().collect::<Vec<_>>());
    let committed = xtask::read(&root).unwrap();
    let stale = xtask::stale(&generated, &committed);
    assert!(
        stale.is_empty(),
        "these generated files differ from what the clap definitions, tools/help.rs and \
         xtask/exp.7.in make now: {}\nrun `cargo xtask gen` and commit man/ and completions/",
        stale.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
}

#[test]
fn every_tool_has_a_page_three_completions_and_a_few_short_examples() {
    let files = xtask::generate(&xtask::workspace_root()).unwrap();
    let tools = xtask::tools();
    assert_eq!(tools.len(), 7);
    for tool in &tools {
        let page = String::from_utf8(files[&PathBuf::from(format!("man/{}.1", tool.name))].clone()).unwrap();
        for section in ["SYNOPSIS", "OPTIONS", "\"EXIT STATUS\"", "ENVIRONMENT", "EXAMPLES", "\"SEE ALSO\""] {
            assert!(page.contains(&format!(".SH {section}")), "{} has no {section}", tool.name);
        }
        for file in [format!("{}.bash", tool.name), format!("_{}", tool.name), format!("{}.fish", tool.name)]
        {
            assert!(files.contains_key(&Path::new("completions").join(file)));
        }
        assert!((2..=3).contains(&tool.examples.len()), "{}: two or three examples", tool.name);
        for example in tool.examples {
            assert!(
                example.about.len() <= 76,
                "{}: example description too long: {}",
                tool.name,
                example.about
            );
        }
        for line in tool.examples.iter().flat_map(|e| e.command.lines()) {
            assert!(line.len() <= 78, "{}: example line longer than 78 columns: {line}", tool.name);
        }
    }
    let exp7 = String::from_utf8(files[Path::new("man/exp.7")].clone()).unwrap();
    for variable in ["EXP_NAME", "EXP_PARAM_", "EXP_CACHE_MODE", "EXP_STATUS_FILE", "EXP_RUNNER", "NO_COLOR"]
    {
        assert!(exp7.contains(variable), "exp.7 does not mention {variable}");
    }
    assert!(!exp7.contains("@VERSION@") && !exp7.contains("@TOOLS@"), "exp.7 kept a placeholder");
}

#[test]
fn the_man_pages_render_without_warnings() {
    if Command::new("man").arg("--version").output().is_err() {
        eprintln!("note: man page rendering not checked: man is not installed (apt-get install man-db)");
        return;
    }
    let root = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    xtask::write(tmp.path(), &xtask::generate(&root).unwrap()).unwrap();
    for page in std::fs::read_dir(tmp.path().join("man")).unwrap() {
        let page = page.unwrap().path();
        let out = Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "{}: {stderr}", page.display());
        assert!(String::from_utf8_lossy(&out.stdout).contains("EXIT STATUS"), "{}", page.display());
    }
}

#[test]
fn the_completion_scripts_parse() {
    let root = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    xtask::write(tmp.path(), &xtask::generate(&root).unwrap()).unwrap();
    for (shell, pattern) in [("bash", ".bash"), ("zsh", "_exp-"), ("fish", ".fish")] {
        if Command::new(shell).arg("-c").arg("true").output().is_err() {
            eprintln!("note: {shell} completions not parsed: {shell} is not installed");
            continue;
        }
        for script in std::fs::read_dir(tmp.path().join("completions")).unwrap() {
            let script = script.unwrap().path();
            if !script.file_name().unwrap().to_string_lossy().contains(pattern) {
                continue;
            }
            let out = Command::new(shell).arg("-n").arg(&script).output().unwrap();
            assert!(
                out.status.success(),
                "{shell} -n {}: {}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Simulate bash's completion of the words `line` (the last one being
/// completed), with a stand-in `exp-status` that lists two names made from
/// the experiment directory it is given.
fn bash_complete(script: &Path, line: &[&str], exp_dir: Option<&str>) -> String {
    let stub = tempfile::tempdir().unwrap();
    let exp_status = stub.path().join("exp-status");
    std::fs::write(
        &exp_status,
        "#!/bin/sh\n[ \"$2\" = --names ] || exit 2\nname=$(basename \"$1\")\nprintf '%s\\n' \"$name-a\" \"$name-b\"\n",
    )
    .unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&exp_status, executable).unwrap();
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))\n\
         spec=$(complete -p {tool}); fn=${{spec#*-F }}; fn=${{fn%% *}}\n\
         $fn {tool} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         echo \"${{COMPREPLY[*]}}\"",
        script.display(),
        words.join(" "),
        tool = line[0],
    );
    let path = format!("{}:{}", stub.path().display(), std::env::var("PATH").unwrap_or_default());
    let mut command = Command::new("bash");
    command.arg("-c").arg(program).env("PATH", path).env_remove("EXP_DIR");
    if let Some(dir) = exp_dir {
        command.env("EXP_DIR", dir);
    }
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn bash_completes_config_names_after_replay_and_log() {
    let root = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    xtask::write(tmp.path(), &xtask::generate(&root).unwrap()).unwrap();
    let run = tmp.path().join("completions/exp-run.bash");
    let status = tmp.path().join("completions/exp-status.bash");
    // The experiment is the first operand, wherever the options are.
    assert_eq!(bash_complete(&run, &["exp-run", "runs/lr", "--replay", ""], None), "lr-a lr-b");
    assert_eq!(bash_complete(&run, &["exp-run", "-j", "2", "runs/x", "--replay", "x-b"], None), "x-b");
    assert_eq!(
        bash_complete(&run, &["exp-run", "--stop-after", "1h", "--replay", "="], Some("/e/sweep")),
        "sweep-a sweep-b"
    );
    // `--replay=NAME`: bash splits it at `=`.
    assert_eq!(
        bash_complete(&run, &["exp-run", "--replay", "=", "old", "runs/y", "--replay", "=", "y"], None),
        "y-a y-b"
    );
    // Else $EXP_DIR, else the current directory.
    assert_eq!(bash_complete(&run, &["exp-run", "--replay", ""], Some("/data/sweep")), "sweep-a sweep-b");
    assert_eq!(bash_complete(&run, &["exp-run", "--replay", ""], None), ".-a .-b");
    assert_eq!(bash_complete(&status, &["exp-status", "runs/lr", "--log", "lr-"], None), "lr-a lr-b");
    // Everything else is clap's completion.
    assert_eq!(bash_complete(&run, &["exp-run", "runs/lr", "--rep"], None), "--replay --replay-all");
}

/// Trust round 3 (found the same day): bash offered file names after
/// `--status`; it offers the statuses, in every shell.
#[test]
fn completions_offer_the_statuses_after_status() {
    let root = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    xtask::write(tmp.path(), &xtask::generate(&root).unwrap()).unwrap();
    let status = tmp.path().join("completions/exp-status.bash");
    assert_eq!(
        bash_complete(&status, &["exp-status", "runs/lr", "--status", ""], None),
        "todo running done failed removed"
    );
    assert_eq!(bash_complete(&status, &["exp-status", "--status", "f"], None), "failed");
    let zsh = std::fs::read_to_string(tmp.path().join("completions/_exp-status")).unwrap();
    assert!(zsh.contains("STATUS:(todo running done failed removed)"), "zsh offers them:\n{zsh}");
    let fish = std::fs::read_to_string(tmp.path().join("completions/exp-status.fish")).unwrap();
    assert!(fish.lines().any(|l| l.contains("-l status") && l.contains("todo")), "fish offers them:\n{fish}");
}
