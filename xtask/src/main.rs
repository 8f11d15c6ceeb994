//! `cargo xtask gen`: write man/ and completions/ from the tools' clap
//! definitions (see the library's docs). `cargo xtask check`: say whether
//! the committed files are up to date, changing nothing.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = xtask::workspace_root();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["gen"] => xtask::generate(&root).and_then(|files| {
            xtask::write(&root, &files)?;
            eprintln!("xtask: wrote {} files under man/ and completions/", files.len());
            Ok(true)
        }),
        ["check"] => xtask::generate(&root).and_then(|files| {
            let stale = xtask::stale(&files, &xtask::read(&root)?);
            for path in &stale {
                eprintln!("xtask: {} is stale", path.display());
            }
            if !stale.is_empty() {
                eprintln!("xtask: run `cargo xtask gen` and commit man/ and completions/");
            }
            Ok(stale.is_empty())
        }),
        _ => {
            eprintln!("usage: cargo xtask gen | cargo xtask check");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::from(1)
        }
    }
}
