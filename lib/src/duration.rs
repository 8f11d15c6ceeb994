//! Durations on the command line: `90`, `1.5` (seconds), `30s`, `3h50m`, `2m 30s`.

use crate::error::{Error, Result};
use std::time::Duration;

/// The longest duration accepted: a century, far from `Instant` overflow.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

pub fn parse(option: &str, text: &str) -> Result<Duration> {
    let trimmed = text.trim();
    let parsed = match trimmed.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => {
            Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
        }
        _ => humantime::parse_duration(trimmed).map_err(|err| {
            Error::usage(format!("{option} {text:?}: not a duration ({err}); try 90, 30s, 10m or 3h50m"))
        })?,
    };
    if parsed > MAX {
        return Err(Error::usage(format!("{option} {text:?}: longer than a century")));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("--t", "90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("--t", "3h50m").unwrap(), Duration::from_secs(3 * 3600 + 50 * 60));
        assert_eq!(parse("--t", "0.5").unwrap(), Duration::from_millis(500));
        assert!(parse("--t", "soon").is_err());
        assert!(parse("--t", "-3").is_err());
        assert!(parse("--t", "1e30").is_err());
        assert!(parse("--t", "1e19").is_err());
    }
}
