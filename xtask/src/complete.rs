//! The shell completions: clap_complete's script for each tool, with config
//! names completed after the options that take one (`--replay NAME`, `--log
//! NAME`) by the shell code of `complete/names.{bash,zsh,fish}`, pulled in
//! whole and filled by placeholder (as ripgrep's `flags/complete/`).
//!
//! The placeholders: `@NAMES_LIST@` the options (`--replay and --log`),
//! `@TAKES_VALUE@` every option that takes a value, `@FUNCTION@` the name of
//! the function (bash: clap's, `_@FUNCTION@`, that ours hands over to),
//! and in bash `@CASES@` the options as a case pattern and `@TOOL@` the tool.

use crate::Tool;
use clap::{Arg, Command};
use clap_complete::Shell;

const BASH: &str = include_str!("complete/names.bash");
const ZSH: &str = include_str!("complete/names.zsh");
const FISH: &str = include_str!("complete/names.fish");

/// A tool's completion script for `shell`, with config names completed
/// where an option takes one (`--replay NAME`, `--log NAME`).
pub(crate) fn completion(shell: Shell, tool: &Tool) -> Vec<u8> {
    let mut command = tool.command.clone();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, tool.name, &mut out);
    let script = String::from_utf8(out).expect("completion scripts are UTF-8");
    let names = name_options(&tool.command);
    if names.is_empty() {
        return script.into_bytes();
    }
    let takes_value = value_options(&tool.command).join(" ");
    match shell {
        Shell::Bash => bash_names(&script, tool.name, &names, &takes_value),
        Shell::Zsh => zsh_names(&script, tool.name, &names, &takes_value),
        Shell::Fish => fish_names(&script, tool.name, &names, &takes_value),
        _ => script,
    }
    .into_bytes()
}

/// The long options whose value is a config name (value name `NAME`).
pub fn name_options(command: &Command) -> Vec<String> {
    command
        .get_arguments()
        .filter(|arg| arg.get_value_names().is_some_and(|names| names.iter().any(|n| n == "NAME")))
        .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
        .collect()
}

/// Every option that takes a value, long and short: the word after it is
/// not the experiment directory.
fn value_options(command: &Command) -> Vec<String> {
    let takes_value = |arg: &&Arg| !arg.is_positional() && arg.get_action().takes_values();
    let mut options = Vec::new();
    for arg in command.get_arguments().filter(takes_value) {
        options.extend(arg.get_long().map(|long| format!("--{long}")));
        options.extend(arg.get_short().map(|short| format!("-{short}")));
    }
    options
}

/// `template` with each `@KEY@` of `fills` replaced by its text.
fn fill(template: &str, fills: &[(&str, &str)]) -> String {
    let mut text = template.to_string();
    for (key, value) in fills {
        let placeholder = format!("@{key}@");
        assert!(text.contains(&placeholder), "a completion template has no {placeholder}");
        text = text.replace(&placeholder, value);
    }
    text
}

/// bash: a function run first that completes config names after a
/// name-taking option and hands every other case to clap's function.
fn bash_names(script: &str, tool: &str, names: &[String], takes_value: &str) -> String {
    let helper = fill(
        BASH,
        &[
            ("NAMES_LIST", &names.join(" and ")),
            ("FUNCTION", &tool.replace('-', "__")),
            ("CASES", &names.join("|")),
            ("TAKES_VALUE", takes_value),
            ("TOOL", tool),
        ],
    );
    format!("{script}\n{helper}")
}

/// zsh: the name-taking options' values completed by a function that
/// lists config names the same way as bash's.
fn zsh_names(script: &str, tool: &str, names: &[String], takes_value: &str) -> String {
    let function = format!("_{}_config_names", tool.replace('-', "_"));
    let mut script = script.to_string();
    for name in names {
        // clap writes `'--replay=[help]:NAME:_default'`; complete names instead.
        let marker = format!("{name}=[");
        let mut at = 0;
        while let Some(start) = script[at..].find(&marker).map(|i| i + at) {
            let end = start + script[start..].find('\n').expect("one spec per line");
            let line = script[start..end].replace(":NAME:_default'", &format!(":NAME:{function}'"));
            script.replace_range(start..end, &line);
            at = start + line.len();
        }
    }
    let helper = fill(
        ZSH,
        &[("NAMES_LIST", &names.join(" and ")), ("FUNCTION", &function), ("TAKES_VALUE", takes_value)],
    );
    let tail = format!("if [ \"$funcstack[1]\" = \"_{tool}\" ]; then");
    let at = script.find(&tail).expect("clap's zsh script ends by calling or registering its function");
    script.insert_str(at, &format!("{helper}\n"));
    script
}

/// fish: the name-taking options complete config names, not files.
fn fish_names(script: &str, tool: &str, names: &[String], takes_value: &str) -> String {
    let function = format!("__{}_config_names", tool.replace('-', "_"));
    let mut lines = Vec::new();
    for line in script.lines() {
        let long = names.iter().find(|name| line.contains(&format!(" -l {} ", &name[2..])));
        match long {
            Some(_) => {
                lines.push(format!("{} -f -a '({function})'", line.trim_end().trim_end_matches(" -F")))
            }
            None => lines.push(line.to_string()),
        }
    }
    let takes_value: Vec<String> = takes_value.split(' ').map(|o| format!("'{o}'")).collect();
    let helper = fill(
        FISH,
        &[
            ("NAMES_LIST", &names.join(" and ")),
            ("FUNCTION", &function),
            ("TAKES_VALUE", &takes_value.join(" ")),
        ],
    );
    format!("{helper}\n{}\n", lines.join("\n"))
}
