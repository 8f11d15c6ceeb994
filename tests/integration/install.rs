//! `install.sh`: the tools, their man pages and completions land under
//! PREFIX where man, bash-completion, zsh and fish look for them.

use crate::harness::*;
use std::process::Command;

#[test]
fn install_sh_puts_everything_under_prefix() {
    let bins = bin("exp-run");
    let bindir = bins.parent().unwrap();
    let dir = Dir::new();
    let prefix = dir.path().join("prefix");
    let install = || {
        let mut sh = Command::new("sh");
        sh.arg(repo("install.sh")).arg("--no-build").env("PREFIX", &prefix).env("BINDIR", bindir);
        Out::of(sh.env_remove("DESTDIR").output().unwrap())
    };
    install().succeeds();

    let tools = ["exp-init", "exp-add", "exp-run", "exp-status", "exp-snapshot", "exp-summary", "exp-clean"];
    for tool in tools {
        for path in [
            format!("bin/{tool}"),
            format!("share/man/man1/{tool}.1"),
            format!("share/bash-completion/completions/{tool}"),
            format!("share/zsh/site-functions/_{tool}"),
            format!("share/fish/vendor_completions.d/{tool}.fish"),
        ] {
            assert!(prefix.join(&path).is_file(), "{path} not installed");
        }
        let version = Command::new(prefix.join("bin").join(tool)).arg("--version").output().unwrap();
        assert!(version.status.success(), "{tool} --version");
    }
    assert!(prefix.join("share/man/man7/exp.7").is_file());
    // The committed files, as they are.
    let installed = std::fs::read(prefix.join("share/man/man1/exp-run.1")).unwrap();
    assert_eq!(installed, std::fs::read(repo("man/exp-run.1")).unwrap());

    if Command::new("man").arg("--version").output().is_err() {
        eprintln!("note: installed man pages not rendered: man is not installed (apt-get install man-db)");
    } else {
        for (section, page, expected) in
            [("1", "exp-run", "--stop-after"), ("7", "exp", "THE EXPERIMENT DIRECTORY")]
        {
            let man = Command::new("man")
                .arg("-M")
                .arg(prefix.join("share/man"))
                .args([section, page])
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "80")
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&man.stdout);
            assert!(man.status.success() && text.contains(expected), "man {section} {page}: {text}");
        }
    }

    // bash: sourcing the installed file registers the completion.
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p exp-run",
            prefix.join("share/bash-completion/completions/exp-run").display()
        ))
        .output();
    if let Ok(bash) = bash {
        let spec = String::from_utf8_lossy(&bash.stdout);
        assert!(spec.contains("exp-run"), "complete -p exp-run: {spec}");
    }

    // Again: it replaces what it installed.
    install().succeeds();
}

#[test]
fn install_sh_without_built_binaries_says_so() {
    let dir = Dir::new();
    let mut sh = Command::new("sh");
    sh.arg(repo("install.sh")).arg("--no-build");
    sh.env("PREFIX", dir.path().join("prefix")).env("BINDIR", dir.path().join("nothing"));
    Out::of(sh.output().unwrap()).fails_with(1).stderr_has("is not built");
    assert!(!dir.path().join("prefix").exists(), "nothing is installed");
}
