//! `exp::ExitCode` is the one table of exit codes: every tool's `--help` and
//! `-h`, every man page and exp(7) show its codes, and nothing they say
//! claims a code it does not have.

use exp::ExitCode;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every generated page: its path and text.
fn pages() -> BTreeMap<PathBuf, String> {
    let files = xtask::generate(&xtask::workspace_root()).expect("generate");
    files
        .into_iter()
        .filter(|(path, _)| path.starts_with("man"))
        .map(|(path, bytes)| (path, String::from_utf8(bytes).expect("pages are UTF-8")))
        .collect()
}

/// The codes as the table writes them, in its order.
fn labels() -> Vec<String> {
    ExitCode::table().into_iter().map(|(label, _)| label).collect()
}

#[test]
fn every_page_lists_the_codes_of_the_enum_and_no_other() {
    let pages = pages();
    assert_eq!(pages.len(), 8, "seven tools and exp(7)");
    for (path, page) in &pages {
        let start = page.find(".SH \"EXIT STATUS\"\n").unwrap_or_else(|| panic!("{}", path.display()));
        let section = &page[start + 1..];
        let section = &section[..section.find("\n.SH ").unwrap_or(section.len())];
        let tags: Vec<&str> = section.lines().filter_map(|line| line.strip_prefix(".B ")).collect();
        assert_eq!(tags, labels(), "{}: the codes of EXIT STATUS", path.display());
        for (_, meaning) in ExitCode::table() {
            assert!(section.contains(&xtask::roff(&meaning)), "{}: no {meaning:?}", path.display());
        }
    }
}

#[test]
fn every_help_lists_the_codes_of_the_enum() {
    for tool in xtask::tools() {
        let long = tool.command.clone().render_long_help().to_string();
        let table = &long[long.find("Exit status:\n").expect("--help has an exit table")..];
        for (label, meaning) in ExitCode::table() {
            let first_words: String = meaning.split_whitespace().take(4).collect::<Vec<_>>().join(" ");
            assert!(
                table.lines().any(|line| line.trim_start().starts_with(&format!("{label:<6} {first_words}"))),
                "{} --help: no {label} {first_words}...:\n{table}",
                tool.name
            );
        }
        let short = tool.command.clone().render_help().to_string();
        let exit =
            short[short.find("Exit:").expect("-h has an exit line")..].split_whitespace().collect::<Vec<_>>();
        let exit = exit.join(" ");
        for code in ExitCode::TABLE {
            if let Some(brief) = code.brief() {
                assert!(exit.contains(&format!("{} {brief}", code.label())), "{} -h: {exit}", tool.name);
            }
        }
    }
}

/// Prose anywhere (option help, exp(7)) that says a tool "exits N" or
/// "(exit N)" names a code of the table. (A command's own "exit code N" is
/// not a claim of exp's.)
#[test]
fn no_page_or_help_claims_a_code_the_enum_lacks() {
    let mut texts: Vec<(String, String)> = pages()
        .into_iter()
        .map(|(path, page)| (path.display().to_string(), page.replace("\\-", "-")))
        .collect();
    for tool in xtask::tools() {
        texts.push((format!("{} --help", tool.name), tool.command.clone().render_long_help().to_string()));
    }
    let labels = labels();
    let mut claims = 0;
    for (source, text) in &texts {
        let words: Vec<&str> = text.split_whitespace().collect();
        for pair in words.windows(2) {
            let verb = pair[0].trim_start_matches(['(', '\\', 'f', 'B', 'R']);
            if verb != "exit" && verb != "exits" {
                continue;
            }
            let code = pair[1].trim_end_matches([',', '.', ')', ';', ':']);
            let code = code.trim_end_matches("\\fR");
            if !code.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            claims += 1;
            assert!(
                labels.iter().any(|label| label == code),
                "{source}: \"{} {}\" is no code of exp::ExitCode",
                pair[0],
                pair[1]
            );
        }
    }
    assert!(claims > 20, "the pages say \"exit N\" often; found {claims}");
}
