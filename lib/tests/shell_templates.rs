//! Fuzzing shell templates against real shells: templates built from
//! fragments (plain text, both kinds of quotes, backslashes, `$`, command
//! substitutions, here-documents, comments, placeholders in every place
//! exp accepts or refuses), values of any text but NUL (quotes, `$(...)`,
//! backquotes, backslashes, newlines, `touch MARKER`), rendered by exp and
//! run by `dash -c` and `bash -c`. Every value must arrive byte for byte,
//! none may ever run, and every refused place must be refused.

use exp::model::{Command, Params};
use exp::template::{Builtins, CommandTemplate};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use serde_json::Value;
use std::path::Path;

/// The placeholders the templates use: three params and a builtin.
const KEYS: [&str; 4] = ["x0", "x1", "x2", "dir"];

/// Part of a word outside quotes.
#[derive(Debug, Clone)]
enum Frag {
    /// Characters that need no quoting.
    Plain(String),
    /// A backslash and the character it escapes.
    Escaped(char),
    Hole(usize),
    /// `${a}`, or `$a` right before a placeholder (which must not extend the name).
    Var,
    /// `~` right before a placeholder at the start of a word (which must not
    /// make it `~user`); elsewhere `\~`.
    Tilde,
    /// Text that sh expands, with what it expands to.
    Expands(&'static str, &'static str),
    Double(Vec<InDouble>),
    Single(Vec<InSingle>),
}

#[derive(Debug, Clone)]
enum InDouble {
    Text(String),
    /// `\` and a character, with what sh makes of them.
    Escaped(char),
    Var,
    Hole(usize),
    Expands(&'static str, &'static str),
}

#[derive(Debug, Clone)]
enum InSingle {
    Text(String),
    Hole(usize),
}

/// One line (or `;`-separated command) of a template.
#[derive(Debug, Clone)]
enum Statement {
    /// `printf '%s\0' WORD...`: each word's value, NUL-terminated.
    Print(Vec<Vec<Frag>>),
    /// A here-document on the line of a print: its body follows the line.
    PrintBeforeHeredoc(Vec<Vec<Frag>>),
    /// Shell text that prints nothing and that exp reads for sure.
    Quiet(&'static str),
    /// Shell text after which exp cannot be sure how sh reads the rest.
    Doubt(&'static str),
    /// A placeholder where exp cannot quote a value (`{}` marks it).
    Refused(&'static str, usize),
}

/// Literal template text: braces doubled.
fn literal(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

fn hole(key: usize) -> String {
    format!("{{{}}}", KEYS[key])
}

/// A word's template text and the bytes sh makes of it.
fn word(frags: &[Frag], values: &[String], template: &mut String, out: &mut Vec<u8>) {
    for (i, frag) in frags.iter().enumerate() {
        let next_is_hole = matches!(frags.get(i + 1), Some(Frag::Hole(_)));
        match frag {
            Frag::Plain(text) => {
                template.push_str(&literal(text));
                out.extend(text.bytes());
            }
            Frag::Escaped(c) => {
                template.push('\\');
                template.push_str(&literal(&c.to_string()));
                out.extend(c.to_string().bytes());
            }
            Frag::Hole(key) => {
                template.push_str(&hole(*key));
                out.extend(values[*key].bytes());
            }
            Frag::Var => {
                template.push_str(if next_is_hole { "$a" } else { "${{a}}" });
                out.extend(b"AV");
            }
            Frag::Tilde => {
                template.push_str(if i == 0 && next_is_hole { "~" } else { "\\~" });
                out.push(b'~');
            }
            Frag::Expands(text, value) => {
                template.push_str(&literal(text));
                out.extend(value.bytes());
            }
            Frag::Double(parts) => {
                template.push('"');
                for (j, part) in parts.iter().enumerate() {
                    let next_is_hole = matches!(parts.get(j + 1), Some(InDouble::Hole(_)));
                    match part {
                        InDouble::Text(text) => {
                            template.push_str(&literal(text));
                            out.extend(text.bytes());
                        }
                        InDouble::Escaped(c) => {
                            template.push('\\');
                            template.push_str(&literal(&c.to_string()));
                            if !"$`\"\\".contains(*c) {
                                out.push(b'\\');
                            }
                            out.extend(c.to_string().bytes());
                        }
                        InDouble::Var => {
                            template.push_str(if next_is_hole { "$a" } else { "${{a}}" });
                            out.extend(b"AV");
                        }
                        InDouble::Hole(key) => {
                            template.push_str(&hole(*key));
                            out.extend(values[*key].bytes());
                        }
                        InDouble::Expands(text, value) => {
                            template.push_str(&literal(text));
                            out.extend(value.bytes());
                        }
                    }
                }
                template.push('"');
            }
            Frag::Single(parts) => {
                template.push('\'');
                for part in parts {
                    match part {
                        InSingle::Text(text) => {
                            template.push_str(&literal(text));
                            out.extend(text.bytes());
                        }
                        InSingle::Hole(key) => {
                            template.push_str(&hole(*key));
                            out.extend(values[*key].bytes());
                        }
                    }
                }
                template.push('\'');
            }
        }
    }
}

/// What exp must do with a template.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Render it; sh prints these bytes.
    Prints,
    /// Refuse it.
    Refused,
    /// Accept it, but the shells may read it apart: nothing to compare.
    Accepted,
}

/// The template, the output sh must print, and what exp must do with it.
fn script(statements: &[Statement], values: &[String]) -> (String, Vec<u8>, Expect) {
    let (mut template, mut out) = ("a=AV\n".to_string(), Vec::new());
    let (mut refused, mut doubt) = (false, false);
    for statement in statements {
        match statement {
            Statement::Print(words) | Statement::PrintBeforeHeredoc(words) => {
                if matches!(statement, Statement::PrintBeforeHeredoc(_)) {
                    template.push_str("cat <<'E' >/dev/null; ");
                }
                template.push_str("printf '%s\\0'");
                for frags in words {
                    template.push(' ');
                    word(frags, values, &mut template, &mut out);
                    out.push(0);
                    let holes = frags.iter().any(|f| match f {
                        Frag::Hole(_) => true,
                        Frag::Double(parts) => parts.iter().any(|p| matches!(p, InDouble::Hole(_))),
                        Frag::Single(parts) => parts.iter().any(|p| matches!(p, InSingle::Hole(_))),
                        _ => false,
                    });
                    refused |= doubt && holes;
                }
                if matches!(statement, Statement::PrintBeforeHeredoc(_)) {
                    template.push_str("\nbody 'of' \"it\" $(x)\nE");
                }
            }
            Statement::Quiet(text) => template.push_str(&literal(text)),
            Statement::Doubt(text) => {
                template.push_str(&literal(text));
                doubt = true;
            }
            Statement::Refused(text, key) => {
                let parts: Vec<String> = text.split("{}").map(literal).collect();
                template.push_str(&parts.join(&hole(*key)));
                refused = true;
            }
        }
        template.push('\n');
    }
    let expect = match (refused, doubt) {
        (true, _) => Expect::Refused,
        (false, true) => Expect::Accepted,
        (false, false) => Expect::Prints,
    };
    (template, out, expect)
}

/// Values any text but NUL, with a bias to what breaks shells.
fn value() -> impl Strategy<Value = String> {
    let hostile = select(vec![
        "$(touch MARKER)",
        "`touch MARKER`",
        "'; touch MARKER; '",
        "\"; touch MARKER; \"",
        "'\\''; touch MARKER; '\\''",
        "\"$(touch MARKER)\"",
        "\\",
        "\\'",
        "\\\"",
        "x\\",
        "!!",
        "\nE\ntouch MARKER\n",
        "# touch MARKER",
        ";touch MARKER",
        "$a",
        "${a}",
        "~",
        "~root",
        "*",
        "done",
        "a=b",
        "0.1",
        "-x",
        "",
        "é😀",
        "\u{1}\u{7f}",
    ]);
    let piece = prop_oneof![
        hostile.prop_map(str::to_string),
        r#"[a-z0-9 '"\\$`!\n(){};|&<>*?~#=.,%@+:/é_-]{0,8}"#,
        any::<String>(),
    ];
    prop::collection::vec(piece, 1..3).prop_map(|pieces| pieces.concat().replace('\0', ""))
}

fn plain() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._:+@%=,/-]{1,4}"
}

/// Fragments of a word; `expands` allows command substitutions (not on
/// the line of a here-document, where exp refuses what follows them).
fn frag(expands: bool) -> impl Strategy<Value = Frag> {
    let expanding = |list: Vec<(&'static str, &'static str)>| {
        if expands {
            list
        } else {
            list.into_iter().filter(|(text, _)| !text.contains(['`', '('])).collect()
        }
    };
    let in_double = prop_oneof![
        3 => r#"[A-Za-z0-9 '#;&|<>()*?~{}=,.!-]{1,4}"#.prop_map(InDouble::Text),
        1 => select(vec!['$', '`', '"', '\\', 'a', '\'']).prop_map(InDouble::Escaped),
        1 => Just(InDouble::Var),
        3 => (0..KEYS.len()).prop_map(InDouble::Hole),
        1 => select(expanding(vec![("$(printf %s \")\")", ")"), ("`printf %s b`", "b"), ("${u:-d}", "d")]))
            .prop_map(|(t, v)| InDouble::Expands(t, v)),
    ];
    let in_single = prop_oneof![
        2 => r#"[A-Za-z0-9 "\\$`#;&|<>(){}\n!-]{1,4}"#.prop_map(InSingle::Text),
        2 => (0..KEYS.len()).prop_map(InSingle::Hole),
    ];
    prop_oneof![
        3 => plain().prop_map(Frag::Plain),
        1 => select(vec!['$', '"', '\'', '\\', '`', ';', '&', '|', '<', '>', '(', ')', '*', '?', ' ', '#', '~', '{', '}'])
            .prop_map(Frag::Escaped),
        4 => (0..KEYS.len()).prop_map(Frag::Hole),
        1 => Just(Frag::Var),
        1 => Just(Frag::Tilde),
        1 => select(expanding(vec![
            ("$(printf %s \")\")", ")"),
            ("$(printf %s 'it'\\''s' # )\n)", "it's"),
            ("`printf %s b`", "b"),
            ("${u:-d}", "d"),
            ("$((2*3))", "6"),
        ]))
        .prop_map(|(t, v)| Frag::Expands(t, v)),
        2 => prop::collection::vec(in_double, 0..5).prop_map(Frag::Double),
        2 => prop::collection::vec(in_single, 0..4).prop_map(Frag::Single),
    ]
}

fn statement() -> impl Strategy<Value = Statement> {
    let words = |expands| prop::collection::vec(prop::collection::vec(frag(expands), 1..5), 1..4);
    prop_oneof![
        8 => words(true).prop_map(Statement::Print),
        1 => words(false).prop_map(Statement::PrintBeforeHeredoc),
        2 => select(vec![
            ": $(echo \")\" 'it''s' `echo x`) ${u:-a} $((1+2))",
            "# it's a comment with \"quotes\" and $(",
            "cat <<E >/dev/null\nline $a 'x \" ${u}\nE",
            "cat <<-'E' >/dev/null\n\tline $(x) `y` 'x \"\n\tE",
            "x=$(printf '%s' \"$(echo ')')\")",
            "[ \"$a\" = AV ] && : ",
            "f() { :; }; f",
            "(echo) >/dev/null",
            ": \\\n  continued",
        ])
        .prop_map(Statement::Quiet),
        1 => select(vec![
            "x=$(case a in a) echo;; esac)",
            ": \"${u:-'}'}\"",
            ": $'a\\'b'",
        ])
        .prop_map(Statement::Doubt),
        1 => (
            select(vec![
                ": $(echo {})",
                ": \"$(echo {})\"",
                ": `echo {}`",
                ": ${u:-{}}",
                ": $(( {} ))",
                ": $[{}]",
                "# {}",
                "cat <<E >/dev/null\n{}\nE",
                "cat <<'E' >/dev/null\n{}\nE",
                ": \\{}",
                ": \"\\{}\"",
                ": ${}",
                ": $'{}'",
                ": $\"{}\"",
                "[[ {} -eq 1 ]]",
            ]),
            0..KEYS.len(),
        )
            .prop_map(|(text, key)| Statement::Refused(text, key)),
    ]
}

/// Run `script` with `shell` in `dir`: its stdout.
fn run(shell: &str, script: &str, dir: &Path) -> std::process::Output {
    std::process::Command::new(shell)
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env_remove("IFS")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{shell} is needed by this test: {err}"))
}

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::with_cases(300) })]

    #[test]
    fn every_value_arrives_byte_for_byte_and_never_runs(
        statements in prop::collection::vec(statement(), 1..5),
        values in prop::collection::vec(value(), KEYS.len()),
    ) {
        let (template, expected, expect) = script(&statements, &values);
        let params: Params = KEYS[..3].iter().zip(&values).map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
        let builtins = Builtins::from([("dir", values[3].clone())]);
        let parsed = CommandTemplate::parse(&Command::Shell(template.clone()));
        if expect == Expect::Refused {
            let err = parsed.err();
            prop_assert!(err.is_some(), "not refused: {:?}", template);
            let message = err.unwrap().message;
            prop_assert!(KEYS.iter().any(|k| message.contains(&format!("{{{k}}}"))), "{}", message);
            return Ok(());
        }
        let parsed = parsed.map_err(|err| TestCaseError::fail(format!("refused {template:?}: {err}")))?;
        let argv = parsed.render(&params, &builtins).unwrap();
        if expect == Expect::Accepted {
            return Ok(());
        }
        let dir = tempfile::tempdir().unwrap();
        for shell in ["dash", "bash"] {
            let out = run(shell, &argv[2], dir.path());
            prop_assert!(out.status.success(), "{} failed: {:?}\n{}", shell, argv[2], String::from_utf8_lossy(&out.stderr));
            prop_assert_eq!(&out.stdout, &expected, "{} printed otherwise; template {:?}\nscript {:?}", shell, template, argv[2]);
            let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
            prop_assert!(entries.is_empty(), "{} ran a value: {:?} left {:?}", shell, argv[2], entries);
        }
    }
}

proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::with_cases(2000) })]

    /// Whatever the text, the lexer ends with an answer, never a panic.
    #[test]
    fn any_template_is_parsed_or_refused(
        text in prop::collection::vec(
            prop_oneof![
                select(vec!["{x}", "{{", "}}", "$(", ")", "`", "'", "\"", "\\", "\n", "<<", "<<-", "E", "#", "$", "${{", "$((", "((", "[[", " -eq ", "]]", "case ", "~", " ", "$'", "$[", "]"]).prop_map(str::to_string),
                "[a-z;|&<> \t-]{1,3}",
            ],
            0..30,
        ).prop_map(|parts| parts.concat())
    ) {
        if let Ok(CommandTemplate::Shell(template)) = CommandTemplate::parse(&Command::Shell(text.clone())) {
            let params: Params = [("x".to_string(), Value::String("v".into()))].into_iter().collect();
            template.render(&params, &Builtins::new()).unwrap();
        }
    }
}
