//! `exp-run --replay NAME` and `--replay-all`: run configs again in the
//! foreground, with inherited stdio and `EXP_CACHE_MODE=replay`, leaving
//! the experiment's state untouched.
//!
//! A replayed command runs in exp-run's own process group, so a terminal's
//! Ctrl-C (and its stdin, for a debugger) reaches it directly; signals sent
//! to exp-run by another process are passed on. Its result goes to
//! `result.replay.json`, beside the recorded `result.json`, and its
//! metrics to `metrics.replay.jsonl` (begun anew by each replay), beside
//! the recorded `metrics.jsonl`.
//!
//! It runs what ran: the argv its folder's `command.json` recorded (saying
//! so when the template has changed since, `exp-init --update`), in today's
//! workdir and environment. A folder without one (an older run) replays
//! today's command, saying so.

use crate::error::{Error, Result};
use crate::exit_code::ExitCode;
use crate::model::Status;
use crate::report::note;
use crate::run::spawn::{Invocation, Launcher};
use crate::select::Selection;
use crate::store::config_files::{ConfigFiles, COMMAND, REPLAY_METRICS};
use crate::store::Store;
use crate::template::shell_quote;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::iterator::SignalsInfo;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// Which configs to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// `--replay NAME`, in the order given; the exit code is the command's
    /// (with several, the first non-zero one).
    Names(Vec<String>),
    /// `--replay-all`: every selected config that ran (done or failed), in
    /// order, going on past failures; exit 1 if any replay failed.
    /// (`--replay NAME` refuses a config that never ran.)
    All,
}

/// Replay; returns the exit code.
pub fn replay(
    store: &mut Store,
    launcher: &Launcher,
    which: &Replay,
    selection: &Selection,
) -> Result<ExitCode> {
    let (experiment, _) = store.read()?;
    let names: Vec<&String> = match which {
        Replay::Names(names) => {
            if let Some(unknown) = names.iter().find(|n| !experiment.configs.contains_key(*n)) {
                return Err(Error::usage(format!(
                    "--replay: no config named {unknown:?} (exp-status --names lists them)"
                )));
            }
            if let Some(never) =
                names.iter().find(|n| experiment.configs[*n].read().is_ok_and(|c| c.attempts == 0))
            {
                return Err(Error::usage(format!(
                    "--replay: {never} has never run: there is nothing to replay"
                )));
            }
            names.iter().collect()
        }
        Replay::All => experiment
            .configs
            .iter()
            .filter(|(name, e)| {
                selection.contains(name) && matches!(e.status(), Status::Done | Status::Failed)
            })
            .map(|(name, _)| name)
            .collect(),
    };
    let forward = Forwarder::start()?;
    let (mut first_failure, mut failed) = (ExitCode::Success, 0);
    for name in &names {
        if let Some(signal) = forward.stopped() {
            note(format!("stopped by signal {signal} before replaying {name}"));
            return Ok(ExitCode::interrupted(signal));
        }
        let config = experiment.configs[*name].read()?;
        let attempt = config.attempts.max(1);
        note(format!("replaying {name} (attempt {attempt}, {})", config.status));
        let files = store.config_files(name);
        // The devices it held, as its provenance recorded them: its env and
        // argv are made again with those (the devices are not held now).
        let devices = crate::provenance::latest(store, name, &config).and_then(|recorded| {
            let tokens: Vec<&str> =
                recorded.get("devices")?.as_array()?.iter().filter_map(|d| d.as_str()).collect();
            (!tokens.is_empty()).then(|| tokens.join(","))
        });
        let Invocation { argv: today, env, .. } =
            launcher.invocation(&experiment, &files, name, attempt, 0, devices.as_deref())?;
        let argv = match recorded_argv(&files) {
            Some(recorded) if recorded != today => {
                note(format!(
                    "{name}: the command has changed since it ran (exp-init --update); replaying what ran, from its command.json: {}",
                    shell_words(&recorded)
                ));
                recorded
            }
            Some(recorded) => recorded,
            None => {
                note(format!(
                    "{name}: no command.json in its folder (an older run): replaying today's command"
                ));
                today
            }
        };
        let mut command = launcher.command(&argv, &env);
        let program = &argv[0];
        command.env("EXP_RESULT", files.replay_result());
        command.env("EXP_METRICS", files.replay_metrics());
        // The command appends: an earlier replay's curve is not this one's.
        if let Some(folder) = files.folder() {
            let _ = folder.remove_file(REPLAY_METRICS);
        }
        let mut child =
            command.spawn().map_err(|err| Error::state(format!("cannot run {program:?}: {err}")))?;
        forward.child.store(child.id() as i32, Ordering::SeqCst);
        let status =
            child.wait().map_err(|err| Error::state(format!("cannot wait for {program:?}: {err}")))?;
        forward.child.store(0, Ordering::SeqCst);
        // Its own code, or 128+N as a shell says it when signal N killed it.
        let code = match status.code() {
            Some(code) => ExitCode::Replayed(code),
            None => ExitCode::interrupted(status.signal().unwrap_or(0)),
        };
        if code.code() != 0 {
            failed += 1;
            if first_failure == ExitCode::Success {
                first_failure = code;
            }
            note(format!("replay of {name} failed (exit code {})", code.code()));
        }
    }
    if let Some(signal) = forward.stopped() {
        return Ok(ExitCode::interrupted(signal));
    }
    let code = match which {
        // One config: its command's code; several: the first that failed.
        Replay::Names(_) => first_failure,
        Replay::All => {
            note(format!("replayed {} config(s), {failed} failed", names.len()));
            ExitCode::failed_if(failed > 0)
        }
    };
    Ok(code)
}

/// The argv a config's last attempt ran, as its folder's `command.json`
/// records it; None when there is none (or it is not a list of strings).
fn recorded_argv(files: &ConfigFiles) -> Option<Vec<String>> {
    let bytes = files.read(COMMAND, 1 << 20)?;
    serde_json::from_slice::<Vec<String>>(&bytes).ok().filter(|argv| !argv.is_empty())
}

/// An argv as a shell line, for people.
fn shell_words(argv: &[String]) -> String {
    argv.iter().map(|arg| shell_quote(arg)).collect::<Vec<_>>().join(" ")
}

/// Passes stop signals sent by other processes on to the running command
/// (a terminal's Ctrl-C reaches it by itself) and remembers that one came.
struct Forwarder {
    child: Arc<AtomicI32>,
    stop: Arc<AtomicI32>,
}

impl Forwarder {
    fn start() -> Result<Forwarder> {
        crate::process::unblock_signals(&[SIGINT, SIGTERM, SIGHUP]);
        let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|err| Error::state(format!("cannot handle signals: {err}")))?;
        let (child, stop) = (Arc::new(AtomicI32::new(0)), Arc::new(AtomicI32::new(0)));
        let (to, stopped) = (child.clone(), stop.clone());
        std::thread::spawn(move || {
            for origin in signals.forever() {
                stopped.store(origin.signal, Ordering::SeqCst);
                let pid = to.load(Ordering::SeqCst);
                if pid > 0 && origin.process.is_some() {
                    let signal = nix::sys::signal::Signal::try_from(origin.signal).ok();
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
                }
            }
        });
        Ok(Forwarder { child, stop })
    }

    fn stopped(&self) -> Option<i32> {
        Some(self.stop.load(Ordering::SeqCst)).filter(|&signal| signal != 0)
    }
}
