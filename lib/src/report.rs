//! Messages for people, on stderr, prefixed with the program's name.

use std::sync::OnceLock;

/// The name of the running tool, e.g. `exp-run`.
pub fn program() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::args_os()
            .next()
            .and_then(|arg0| {
                std::path::Path::new(&arg0).file_name().map(|n| n.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| "exp".to_string())
    })
}

/// `warning: MESSAGE`, the prefix coloured when stderr is.
pub fn warn(message: impl std::fmt::Display) {
    note(format_args!("{}: {message}", crate::color::caution().for_stderr().apply_to("warning")));
}

/// [`warn`], but each distinct message once per process: a file that is
/// read twice (when a run captures a result, then for its summary) is
/// warned about once.
pub fn warn_once(message: String) {
    if first_time(&message) {
        warn(message);
    }
}

/// Whether `message` is said for the first time in this process (it is
/// from now on), for warnings said once however they are shown.
pub fn first_time(message: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    said.get_or_insert_with(HashSet::new).insert(message.to_string())
}

/// One line on stderr. A closed stderr (`2>&1 | head`) must not stop a run,
/// so write errors are ignored rather than panicking as `eprintln!` would.
pub fn note(message: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{}: {message}", program());
}

/// The first `shown` of `items` joined with commas, then `and N more` for
/// the rest, so a message about many configs stays one readable line.
pub fn first_few(items: impl ExactSizeIterator<Item = String>, shown: usize) -> String {
    let rest = items.len().saturating_sub(shown);
    let mut listed: Vec<String> = items.take(shown).collect();
    if rest > 0 {
        listed.push(format!("and {rest} more"));
    }
    listed.join(", ")
}

/// `3.2s`, `4m05s`, `2h03m`.
pub fn format_seconds(seconds: f64) -> String {
    let whole = seconds.max(0.0) as u64;
    match whole {
        0..60 => format!("{seconds:.1}s"),
        60..3600 => format!("{}m{:02}s", whole / 60, whole % 60),
        _ => format!("{}h{:02}m", whole / 3600, whole % 3600 / 60),
    }
}
