//! The text every tool's help ends with, in one place: its examples (each
//! tool keeps its own `EXAMPLES` beside its `Args`), where results and logs
//! go, and the exit codes (from `exp::ExitCode`, the one table). `cargo xtask
//! gen` renders the same constants into the man pages, so `--help`, `man
//! exp-run` and `man 7 exp` never disagree.

use clap::builder::StyledStr;
use exp::ExitCode;
use std::fmt::Write as _;

/// One example of a tool's use: what it does, and the line to type.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    /// What it does, one short sentence.
    pub about: &'static str,
    /// The command line (or pipeline, or crontab line), as typed.
    pub command: &'static str,
}

/// Where a config's result comes from, and where its logs go.
pub const RESULTS_AND_LOGS: &str = "A config's result is the JSON object its command writes to \
    $EXP_RESULT, else the last line of its stdout that is a JSON object; it is kept as \
    DIR/configs/NAME/result.json. A later stdout line that starts with { but is not JSON is \
    warned about (exp-run, exp-summary). With exp-init --require-result or exp-run \
    --require-result, a config that exits 0 without a result is failed, \"no result\". The command's stdout and stderr go to \
    DIR/configs/NAME/stdout.log and stderr.log (those of an earlier attempt N to stdout.N.log and \
    stderr.N.log); exp-status DIR --log NAME prints them.";

/// The exit codes every tool shares: (code, meaning), one row per code,
/// as `exp::ExitCode` says them.
pub fn exit_codes() -> Vec<(String, String)> {
    ExitCode::table()
}

/// Read by every tool: (variable, meaning).
pub const TOOL_ENVIRONMENT: &[(&str, &str)] = &[
    ("EXP_DIR", "The experiment directory when DIR is not given (else the current directory)."),
    ("NO_COLOR", "When set, nothing people read is coloured (data on stdout never is)."),
];

/// Read by exp-run alone: (variable, meaning).
pub const RUN_ENVIRONMENT: &[(&str, &str)] = &[
    (
        "EXP_DEVICE_LOCKS",
        "The folder of the device lock files of --devices, one per host, that every runner of the host \
         that shares the devices names (default /tmp/exp-devices). Made mode 1777 as /tmp, its lock \
         files 1666, so several Unix users share it. Not on a filesystem shared by hosts: there, \
         device 0 of one host would wait for device 0 of another.",
    ),
    (
        "EXP_MEMINFO",
        "For tests: a file read instead of /proc/meminfo by --memfree (the same Key: N kB lines), \
         and then no memory cgroup is read.",
    ),
];

/// What exp-run gives every command: (variable, meaning).
pub const COMMAND_ENVIRONMENT: &[(&str, &str)] = &[
    ("EXP_NAME", "The config's name."),
    ("EXP_CONFIG_DIR", "The config's folder, DIR/configs/NAME."),
    ("EXP_PARAMS", "All the config's params, merged over the defaults, as one JSON object."),
    (
        "EXP_PARAM_<KEY>",
        "Each param whose value is not an array or object: strings as they are, other values as \
         JSON text. KEY is the param's name upper-cased, every character other than A-Z and 0-9 \
         made _ (lr: EXP_PARAM_LR, batch-size: EXP_PARAM_BATCH_SIZE).",
    ),
    (
        "EXP_RESULT",
        "Where to write the result, a JSON object: DIR/configs/NAME/result.json \
         (result.replay.json in a replay).",
    ),
    (
        "EXP_METRICS",
        "Where to append metrics as the command goes, one JSON object a line ({\"step\": 3, \"loss\": 0.41}): \
         DIR/configs/NAME/metrics.jsonl (metrics.replay.jsonl in a replay). The last line shows in \
         exp-run's worker lines and exp-status; exp-summary --metrics gives every line.",
    ),
    ("EXP_CACHE_DIR", "DIR/configs/NAME/cache/, the config's own cache (see EXP_CACHE_MODE)."),
    (
        "EXP_CACHE_MODE",
        "record (compute slow or random calls and store them in EXP_CACHE_DIR, keyed by their \
         inputs), replay (read them from the cache only; a miss is an error) or off (exp-run \
         --no-cache).",
    ),
    ("EXP_ATTEMPT", "The attempt number, 1 for the first run of the config."),
    ("EXP_WORKER", "The worker slot running it, 0 to N-1 with -j N (also {worker} in templates)."),
    (
        "EXP_DEVICES",
        "With exp-run --devices: the device tokens the config holds, comma-separated (0,1), also \
         given as CUDA_VISIBLE_DEVICES (over any the env sets) and as {devices} in templates.",
    ),
    (
        "EXP_STATUS_FILE",
        "DIR/configs/NAME/status.txt: where to write a line or two about progress when the \
         command catches the signal of exp-snapshot --signal.",
    ),
    ("EXP_DIR", "The experiment directory, so exp tools the command calls find it."),
    (
        "EXP_RUNNER",
        "The runner's id. Leave it in the environment of the command's children: a watchdog \
         finds them by it and kills them if the runner dies. Not set in a replay, which no \
         runner runs.",
    ),
];

/// The end of `-h`: the examples, then one line each on results, logs and
/// exit codes.
pub fn short(tool: &str, examples: &[Example]) -> StyledStr {
    let mut text = heading("Examples:");
    text.push('\n');
    for example in examples {
        let _ = writeln!(text, "{}", indent(example.command));
    }
    let _ = write!(
        text,
        "\n{}$EXP_RESULT, else the last JSON-object line of stdout.\n\
         {}DIR/configs/NAME/stdout.log and stderr.log.\n",
        label("Results:"),
        label("Logs:"),
    );
    // `0 ok, 1 failed (or --check), ...`, a line broken between codes only.
    let mut codes: Vec<String> = ExitCode::TABLE
        .iter()
        .filter_map(|code| Some(format!("{} {},", code.label(), code.brief()?)))
        .collect();
    if let Some(last) = codes.last_mut() {
        last.pop();
        last.push('.');
    }
    text.push_str(&wrap_items(codes.into_iter(), &label("Exit:"), &" ".repeat(9)));
    let _ = write!(text, "More with --help, in man {tool} and man 7 exp.");
    StyledStr::from(text)
}

/// The end of `--help`: the examples with what each does, where results and
/// logs go, and the exit codes.
pub fn long(tool: &str, examples: &[Example]) -> StyledStr {
    let mut text = heading("Examples:");
    text.push('\n');
    for (i, example) in examples.iter().enumerate() {
        let gap = if i == 0 { "" } else { "\n" };
        let _ = writeln!(text, "{gap}  # {}\n{}", example.about, indent(example.command));
    }
    let _ = writeln!(text, "\n{}", heading("Results and logs:"));
    text.push_str(&wrap(RESULTS_AND_LOGS, "  ", "  "));
    let _ = writeln!(text, "\n{}", heading("Exit status:"));
    for (code, meaning) in exit_codes() {
        text.push_str(&wrap(&meaning, &format!("  {code:<6} "), &" ".repeat(9)));
    }
    let _ = write!(text, "\n{}man {tool}; man 7 exp (files, formats, guarantees).", heading("See also: "));
    StyledStr::from(text)
}

/// The width help text is wrapped to, so it reads on an 80-column terminal
/// (clap wraps it again on a narrower one).
const WIDTH: usize = 79;

/// `text` filled to [`WIDTH`] columns, its first line after `first`, the
/// others after `rest`; ends with a newline.
fn wrap(text: &str, first: &str, rest: &str) -> String {
    wrap_items(text.split_whitespace().map(str::to_string), first, rest)
}

/// `items` filled as words are by [`wrap`], a line broken between items only.
fn wrap_items(items: impl Iterator<Item = String>, first: &str, rest: &str) -> String {
    let (mut out, mut line) = (String::new(), first.to_string());
    let mut empty = true;
    for word in items {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(&word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A heading in clap's own style for headings (bold and underlined where
/// colour is on; clap strips the codes where it is off).
fn heading(text: &str) -> String {
    let style = clap::builder::styling::Styles::default().get_header().to_owned();
    format!("{style}{text}{style:#}")
}

/// A label padded to a column, for the one-line entries of `-h` (plain:
/// clap wraps a styled label and its text apart).
fn label(text: &str) -> String {
    format!("{text:<9}")
}

/// A command, each of its lines indented by two spaces.
fn indent(command: &str) -> String {
    command.lines().map(|line| format!("  {line}")).collect::<Vec<_>>().join("\n")
}
