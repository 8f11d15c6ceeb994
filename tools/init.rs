//! `exp-init DIR -- CMD...`: create an experiment (idempotent when identical).

use crate::driver::Common;
use clap::Parser;
use exp::init::{init, Definition, Outcome};
use exp::model::Command;
use exp::report::note;
use exp::ExitCode;

/// The examples that end `exp-init --help` and fill EXAMPLES in its man page.
pub const EXAMPLES: &[crate::help::Example] = &[
    crate::help::Example {
        about: "Create a sweep whose configs are named from their params (argv, no shell)",
        command: "exp-init runs/lr --naming '{model}-lr{lr}' --default seed=0 \\\n    \
                  -- python3 train.py --model {model} --lr {lr} --seed {seed}",
    },
    crate::help::Example {
        about: "A shell template (values quoted where they stand), a GPU per worker",
        command: "exp-init runs/gpu --shell 'zcat data.gz | python3 train.py --lr {lr}' \\\n    \
                  --env CUDA_VISIBLE_DEVICES='{worker%4}'",
    },
    crate::help::Example {
        about: "Change the command later, keeping every config and its status",
        command: "exp-init runs/lr --update \\\n    \
                  -- python3 train2.py --model {model} --lr {lr} --seed {seed}",
    },
];

/// Create an experiment directory that runs CMD for every config.
///
/// The command is an argv template after `--` (run without a shell), or
/// `--shell 'CMD'` (run with sh -c). In a shell template a placeholder may
/// stand bare, inside "..." or inside '...', and its value is quoted for
/// that place; inside $(...), backquotes, ${...}, $((...)), a here-document
/// or a comment it is refused: use "$EXP_PARAM_KEY" there instead.
/// `{key}` is a param's value (`{a.b}` reaches into a nested param),
/// `{key:SPEC}` a number formatted with Python's format spec, exactly as
/// Python's format() does (`{lr:.2e}`, `{x:.3g}`, `{i:03d}`; in every
/// template: names, commands, env), `{name}` the config's name, `{dir}` its
/// folder, `{worker}` the worker slot (`{worker%N}` modulo N); `{{` and `}}`
/// are literal braces. Commands
/// run in the directory exp-init ran in (or --workdir). Running it again
/// with the same definition does nothing; a different definition is refused
/// with exit 2, unless --update replaces the command, env, description or
/// workdir (keeping every config and its status; exit 4 while a runner is
/// active).
#[derive(Debug, Parser)]
#[command(after_help = crate::help::short("exp-init", EXAMPLES), after_long_help = crate::help::long("exp-init", EXAMPLES))]
#[command(name = "exp-init", version)]
pub struct Args {
    #[command(flatten)]
    pub experiment: Common,
    /// A name for the experiment.
    #[arg(long)]
    pub name: Option<String>,
    /// A description for the experiment.
    #[arg(long)]
    pub description: Option<String>,
    /// Name configs from their params, e.g. '{model}-lr{lr}' or '{model}-lr{lr:.0e}'
    /// (default: a UUID).
    #[arg(long, value_name = "TEMPLATE")]
    pub naming: Option<String>,
    /// A shell command template, run with sh -c; each value is quoted for
    /// where it stands (bare, "..." or '...').
    #[arg(long, value_name = "CMD", conflicts_with = "command")]
    pub shell: Option<String>,
    /// A default param, KEY=VALUE (VALUE is JSON if it parses, else a string). Repeatable.
    #[arg(long = "default", value_name = "KEY=VALUE")]
    pub defaults: Vec<String>,
    /// An environment variable for every command, KEY=VALUE (a template). Repeatable.
    #[arg(long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Where commands run [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<std::path::PathBuf>,
    /// Replace the command, env, description or workdir of an existing
    /// experiment, keeping its configs and their statuses.
    #[arg(long)]
    pub update: bool,
    /// Record a config that exits 0 without a result (no result.json, no
    /// JSON object line on stdout) as failed, "no result", in every run.
    #[arg(long, conflicts_with = "no_require_result")]
    pub require_result: bool,
    /// With --update: lift --require-result.
    #[arg(long, requires = "update")]
    pub no_require_result: bool,
    /// The command template, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

pub fn main() -> exp::Result<ExitCode> {
    let args = crate::driver::parse::<Args>();
    let command = match args.shell {
        Some(line) => Some(Command::Shell(line)),
        None if args.command.is_empty() => None,
        None => Some(Command::Argv(args.command)),
    };
    let definition = Definition {
        name: args.name,
        description: args.description,
        naming: args.naming,
        command,
        defaults: args.defaults,
        env: args.env,
        workdir: args.workdir,
        update: args.update,
        require_result: match (args.require_result, args.no_require_result) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    };
    let dir = args.experiment.dir.display();
    match init(&args.experiment.dir, &definition)? {
        Outcome::Created => note(format!("created experiment {dir}")),
        Outcome::AlreadyThere => note(format!("{dir} is already this experiment; nothing to do")),
        Outcome::Updated { changed, .. } if changed.is_empty() => note(format!("{dir}: nothing to update")),
        Outcome::Updated { changed, done_under_old_command } => {
            note(format!("{dir}: updated {}; every config and its status kept", changed.join(", ")));
            if done_under_old_command > 0 {
                note(format!(
                    "{done_under_old_command} done config(s) ran under the old command; to run them again: \
                     exp-status {dir} --status done --names | exp-clean {dir} --names - --reset"
                ));
            }
        }
    }
    Ok(ExitCode::Success)
}
