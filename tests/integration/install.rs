//! `install.sh`: the tools, their man pages and completions land under
//! PREFIX where man, bash-completion, zsh and fish look for them; the
//! wheel's share/ (`pyproject.toml`) is the same files, linked.

use crate::harness::*;
use std::path::Path;
use std::process::Command;

/// `install.sh --no-build` of the built tools into `prefix`.
fn install_sh(prefix: &Path) -> Out {
    let bins = bin("exp-run");
    let mut sh = Command::new("sh");
    sh.arg(repo("install.sh")).arg("--no-build").env("PREFIX", prefix).env("BINDIR", bins.parent().unwrap());
    Out::of(sh.env_remove("DESTDIR").output().unwrap())
}

#[test]
fn install_sh_puts_everything_under_prefix() {
    let dir = Dir::new();
    let prefix = dir.path().join("prefix");
    let install = || install_sh(&prefix);
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

#[test]
fn the_wheels_share_is_links_to_what_install_sh_installs() {
    // maturin puts packaging/wheel-data/data/* under the venv's prefix.
    let pyproject = std::fs::read_to_string(repo("pyproject.toml")).unwrap();
    assert!(pyproject.contains("\ndata = \"packaging/wheel-data\"\n"), "pyproject.toml's data folder");
    let wheel = repo("packaging/wheel-data/data/share");
    let dir = Dir::new();
    let prefix = dir.path().join("prefix");
    install_sh(&prefix).succeeds();
    let share = prefix.join("share");

    let mut installed = files_under(&share);
    let mut linked = files_under(&wheel);
    installed.sort();
    linked.sort();
    assert_eq!(linked, installed, "the wheel's share/ and install.sh's differ: add or remove links");
    for file in &linked {
        let link = wheel.join(file);
        // A link into man/ or completions/, never a second copy.
        let target =
            std::fs::read_link(&link).unwrap_or_else(|_| panic!("{} is not a symlink", file.display()));
        let resolved = link.parent().unwrap().join(&target).canonicalize().unwrap();
        let source = resolved.strip_prefix(repo("").canonicalize().unwrap()).unwrap();
        assert!(
            source.starts_with("man") || source.starts_with("completions"),
            "{} links to {}",
            file.display(),
            source.display()
        );
        assert_eq!(
            std::fs::read(&link).unwrap(),
            std::fs::read(share.join(file)).unwrap(),
            "{} is not what install.sh installs",
            file.display()
        );
    }
}
