//! Timestamps as exp writes them (RFC 3339, local offset) and reads them
//! (also Delphyne's naive `2025-11-05 19:23:36.877135`, taken as local time).

use chrono::{DateTime, Local, NaiveDateTime, TimeZone};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Local>);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(Local::now())
    }

    /// Seconds from `self` to `later` (negative if `later` is earlier).
    pub fn seconds_until(&self, later: &Timestamp) -> f64 {
        (later.0 - self.0).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
    }

    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Some(Timestamp(t.with_timezone(&Local)));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f%:z"] {
            if let Ok(t) = DateTime::parse_from_str(text, format) {
                return Some(Timestamp(t.with_timezone(&Local)));
            }
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return Local.from_local_datetime(&naive).earliest().map(Timestamp);
            }
        }
        None
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%dT%H:%M:%S%.6f%:z"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {text:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_delphyne_naive_and_round_trips_our_own() {
        let naive = Timestamp::parse("2025-11-05 19:23:36.877135").unwrap();
        let again = Timestamp::parse(&naive.to_string()).unwrap();
        assert_eq!(naive, again);
        assert!(Timestamp::parse("yesterday").is_none());
    }
}
