//! What a config needs, besides a free worker, before it may start: its
//! device tokens (`--devices`, [`super::devices`]) and free memory
//! (`--memfree`, [`super::memory`]). Without either, admitting a config
//! costs nothing: no file is read, no lock tried.

use super::devices::{DeviceRequest, Devices, Held};
use super::memory::{Gate, MemoryGuard, Meter};
use crate::error::Result;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Resources {
    devices: Option<Devices>,
    memory: Option<MemoryGuard>,
    /// Why the last config to be admitted was not, and when to try again.
    waiting: Option<(Option<String>, Instant)>,
}

impl Resources {
    /// Open the lock folder and read memory once: a SIZE above the total,
    /// or a lock folder that cannot be used, is refused here.
    pub fn new(devices: Option<&DeviceRequest>, memfree: Option<u64>) -> Result<Resources> {
        Ok(Resources {
            devices: devices.map(Devices::open).transpose()?,
            memory: memfree.map(|need| MemoryGuard::new(need, Meter::new())).transpose()?,
            waiting: None,
        })
    }

    /// What a config may start with now: Some (its tokens, if any), or
    /// None to wait (memory first, so that no token is held meanwhile).
    pub fn admit(&mut self) -> Option<Option<Held>> {
        if self.devices.is_none() && self.memory.is_none() {
            return Some(None);
        }
        let now = Instant::now();
        if let Some(memory) = &self.memory {
            if let Gate::Wait(why, after) = memory.check(now) {
                self.waiting = Some((why, now + after));
                return None;
            }
        }
        let held = match &mut self.devices {
            Some(devices) => match devices.try_take() {
                Some(held) => Some(held),
                None => {
                    self.waiting = Some((Some(devices.waiting()), now + super::devices::POLL));
                    return None;
                }
            },
            None => None,
        };
        self.waiting = None;
        Some(held)
    }

    /// A config admitted has started (the next start may wait a second).
    pub fn started(&mut self) {
        if let Some(memory) = &mut self.memory {
            memory.started(Instant::now());
        }
    }

    /// A config ended and let go of what it held: try again at once.
    pub fn retry_now(&mut self) {
        if let Some((_, at)) = &mut self.waiting {
            *at = Instant::now();
        }
    }

    /// Nothing needs admitting (nothing left to claim): no wait.
    pub fn idle(&mut self) {
        self.waiting = None;
    }

    /// Whether a config waits for resources.
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Why, for people, when there is something to say.
    pub fn why(&self) -> Option<&str> {
        self.waiting.as_ref().and_then(|(why, _)| why.as_deref())
    }

    /// How long until a waiting config is tried again (zero: now).
    pub fn retry_in(&self) -> Option<Duration> {
        self.waiting.as_ref().map(|(_, at)| at.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_requests_a_config_is_admitted_at_once() {
        let mut resources = Resources::default();
        assert!(matches!(resources.admit(), Some(None)));
        assert!(!resources.waiting() && resources.retry_in().is_none());
    }

    #[test]
    fn a_config_waits_for_devices_and_says_why_until_one_comes_back() {
        let tmp = tempfile::tempdir().unwrap();
        let request = DeviceRequest::new("gpu0", 1, tmp.path().join("locks")).unwrap();
        let mut resources = Resources::new(Some(&request), None).unwrap();
        let held = resources.admit().expect("admitted").expect("with its device");
        assert_eq!(held.list(), "gpu0");
        assert!(resources.admit().is_none(), "the one device is held");
        assert_eq!(resources.why(), Some("waiting for devices: 1 per config, 0 of 1 free"));
        assert!(resources.retry_in().is_some_and(|wait| wait <= crate::run::devices::POLL));
        drop(held);
        resources.retry_now();
        assert_eq!(resources.retry_in(), Some(Duration::ZERO));
        // Another test's fork may hold a copy of the lock for an instant.
        let mut admitted = None;
        for _ in 0..500 {
            admitted = resources.admit();
            if admitted.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(admitted.is_some_and(|held| held.is_some()));
        assert!(!resources.waiting() && resources.why().is_none());
    }
}
