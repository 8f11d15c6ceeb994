//! What a host is, for telling runners apart: its hostname, its boot id
//! and its PID namespace. Two runners that share all three can look at
//! each other's processes; any other pair can only go by heartbeats
//! (containers with the host's network share a hostname, not a PID
//! namespace; a rebooted machine keeps its hostname, not its boot id).

use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

/// This machine's hostname, as claims record it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Where a process runs: what a runner's registration records of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id`: one per boot of one kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// `readlink /proc/self/ns/pid`, e.g. `pid:[4026531836]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
}

impl Host {
    /// This process's host, read once.
    pub fn here() -> &'static Host {
        static HERE: OnceLock<Host> = OnceLock::new();
        HERE.get_or_init(|| Host {
            host: hostname(),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty()),
            pid_ns: std::fs::read_link("/proc/self/ns/pid").ok().map(|ns| ns.to_string_lossy().into_owned()),
        })
    }

    /// Whether a process of `other` runs on this kernel: the same hostname
    /// and boot id (a registration written before boot ids were recorded
    /// is taken at its hostname's word, as it was then).
    pub fn same_kernel(&self, other: &Host) -> bool {
        self.host == other.host && other.boot_id.as_ref().is_none_or(|id| self.boot_id.as_ref() == Some(id))
    }

    /// Whether this host's pids and `/proc` are `other`'s: the same kernel
    /// and the same PID namespace (likewise, unrecorded is taken as the same).
    pub fn same_pids(&self, other: &Host) -> bool {
        self.same_kernel(other) && other.pid_ns.as_ref().is_none_or(|ns| self.pid_ns.as_ref() == Some(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(boot_id: Option<&str>, pid_ns: Option<&str>) -> Host {
        Host { host: "n1".into(), boot_id: boot_id.map(Into::into), pid_ns: pid_ns.map(Into::into) }
    }

    #[test]
    fn a_host_is_its_hostname_boot_id_and_pid_namespace() {
        let here = host(Some("b1"), Some("pid:[1]"));
        assert!(here.same_pids(&host(Some("b1"), Some("pid:[1]"))));
        let container = host(Some("b1"), Some("pid:[2]"));
        assert!(here.same_kernel(&container) && !here.same_pids(&container));
        let rebooted = host(Some("b2"), Some("pid:[1]"));
        assert!(!here.same_kernel(&rebooted) && !here.same_pids(&rebooted));
        let other = Host { host: "n2".into(), ..here.clone() };
        assert!(!here.same_kernel(&other));
        // A registration of an earlier release: its hostname decides, as before.
        assert!(here.same_pids(&host(None, None)));
    }

    #[test]
    fn this_host_is_read() {
        let here = Host::here();
        assert!(!here.host.is_empty());
        assert!(here.same_pids(here));
        assert!(here.pid_ns.as_deref().is_some_and(|ns| ns.starts_with("pid:[")), "{here:?}");
    }
}
