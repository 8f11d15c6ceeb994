//! `exp-run --memfree SIZE`: how much memory a new config may count on,
//! read from `/proc/meminfo` and the runner's memory cgroups.
//!
//! Available is the lower of `MemAvailable` and, for the runner's cgroup
//! and each cgroup above it that has a memory limit, that limit less the
//! cgroup's usage without its reclaimable page cache (cgroup v2:
//! `memory.max` less `memory.current` less `inactive_file` of
//! `memory.stat`; v1: `memory.limit_in_bytes` less `memory.usage_in_bytes`
//! less `total_inactive_file`), so a Slurm job's limit counts as well as
//! the host's. The total is the lower of `MemTotal` and those limits.
//!
//! For tests, `$EXP_MEMINFO` names a file read instead of `/proc/meminfo`
//! (the same `Key: N kB` lines), and then no cgroup is read.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A file read instead of `/proc/meminfo`, cgroups left out (for tests).
pub const MEMINFO_VAR: &str = "EXP_MEMINFO";
/// How often memory is read again while a config waits for it.
pub const POLL: Duration = Duration::from_secs(1);
/// How far apart starts are while less than twice SIZE is available.
pub const SPACING: Duration = Duration::from_secs(1);

/// `512M`, `4G`, `1.5G`, `2GiB`, `100000` (bytes): K, M, G and T are
/// powers of 1024.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits);
    let shift = match unit.trim().to_ascii_uppercase().trim_end_matches("IB").trim_end_matches('B') {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("{text:?}: not a size; try 512M or 4G")),
    };
    let value: f64 = number.parse().map_err(|_| format!("{text:?}: not a size; try 512M or 4G"))?;
    let bytes = value * (1u64 << shift) as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!("{text:?}: a size of at least one byte, as 512M or 4G"));
    }
    Ok(bytes as u64)
}

/// A size as people read it: `4G`, `2.1G`, `512M`, `900K`, `12B`.
pub fn format_size(bytes: u64) -> String {
    for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        let value = bytes as f64 / (1u64 << shift) as f64;
        if value >= 1.0 {
            let text = if value >= 100.0 { format!("{value:.0}") } else { format!("{value:.1}") };
            return format!("{}{unit}", text.strip_suffix(".0").unwrap_or(&text));
        }
    }
    format!("{bytes}B")
}

/// Memory now, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub available: u64,
    pub total: u64,
}

/// Where memory is read: a meminfo file, and the memory cgroups from the
/// runner's own up to the top of their hierarchy.
#[derive(Debug)]
pub struct Meter {
    meminfo: PathBuf,
    cgroups: Vec<Cgroup>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

impl Meter {
    /// `$EXP_MEMINFO` alone, else `/proc/meminfo` and the runner's cgroups.
    pub fn new() -> Meter {
        match std::env::var_os(MEMINFO_VAR).filter(|path| !path.is_empty()) {
            Some(path) => Meter { meminfo: PathBuf::from(path), cgroups: Vec::new() },
            None => {
                let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
                let cgroups = memory_cgroups(&read("/proc/self/cgroup"), &read("/proc/self/mountinfo"));
                Meter { meminfo: PathBuf::from("/proc/meminfo"), cgroups }
            }
        }
    }

    pub fn read(&self) -> std::io::Result<Reading> {
        let meminfo = std::fs::read_to_string(&self.meminfo)?;
        let mut reading = parse_meminfo(&meminfo).ok_or_else(|| {
            std::io::Error::other(format!("{}: no MemTotal or MemAvailable", self.meminfo.display()))
        })?;
        for cgroup in &self.cgroups {
            if let Some((limit, used)) = cgroup.limit_and_use() {
                reading.total = reading.total.min(limit);
                reading.available = reading.available.min(limit.saturating_sub(used));
            }
        }
        Ok(reading)
    }
}

impl Default for Meter {
    fn default() -> Meter {
        Meter::new()
    }
}

impl Cgroup {
    /// Its limit and its usage less reclaimable page cache; None without a limit.
    fn limit_and_use(&self) -> Option<(u64, u64)> {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).ok();
        let (limit, usage, cache) = match self.v2 {
            true => ("memory.max", "memory.current", "inactive_file"),
            false => ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
        };
        // v1 says "no limit" with a huge number; v2 with "max".
        let limit: u64 = read(limit)?.trim().parse().ok().filter(|&limit: &u64| limit < 1 << 62)?;
        let usage: u64 = read(usage).and_then(|text| text.trim().parse().ok()).unwrap_or(0);
        let cache = read("memory.stat").and_then(|stat| stat_field(&stat, cache)).unwrap_or(0);
        Some((limit, usage.saturating_sub(cache)))
    }
}

/// `MemTotal` and `MemAvailable` (else `MemFree + Buffers + Cached`, as
/// kernels before 3.14 lack it), in bytes.
fn parse_meminfo(text: &str) -> Option<Reading> {
    let field = |key: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            let mut words = rest.split_whitespace();
            let n: u64 = words.next()?.parse().ok()?;
            Some(if words.next() == Some("kB") { n * 1024 } else { n })
        })
    };
    let total = field("MemTotal")?;
    let available = match field("MemAvailable") {
        Some(available) => available,
        None => field("MemFree")? + field("Buffers").unwrap_or(0) + field("Cached").unwrap_or(0),
    };
    Some(Reading { available, total })
}

/// `KEY N` in a cgroup's `memory.stat`.
fn stat_field(stat: &str, key: &str) -> Option<u64> {
    stat.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The runner's memory cgroups, its own first, then each one above it up
/// to its hierarchy's mount, from `/proc/self/cgroup` and
/// `/proc/self/mountinfo`: the v1 memory hierarchy and the v2 one (where a
/// limit file is missing, as on a v2 hierarchy without the memory
/// controller, the level is skipped when read).
fn memory_cgroups(cgroup: &str, mountinfo: &str) -> Vec<Cgroup> {
    let mut found = Vec::new();
    for line in cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let v2 = controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "memory") {
            continue;
        }
        let Some((root, mount)) = mount_of(mountinfo, v2) else { continue };
        // In a container without its own cgroup namespace, the mount's
        // root is the container's cgroup, a prefix of ours.
        let Ok(relative) = Path::new(path).strip_prefix(&root) else { continue };
        let mut dir = mount.join(relative);
        loop {
            found.push(Cgroup { dir: dir.clone(), v2 });
            if dir == mount || !dir.pop() {
                break;
            }
        }
    }
    found
}

/// The root and mount point of the cgroup v2 hierarchy, or of the v1
/// memory hierarchy.
fn mount_of(mountinfo: &str, v2: bool) -> Option<(PathBuf, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        let mount: Vec<&str> = mount.split(' ').collect();
        let mut fs = fs.split(' ');
        let (kind, _, options) = (fs.next()?, fs.next()?, fs.next()?);
        let wanted = match v2 {
            true => kind == "cgroup2",
            false => kind == "cgroup" && options.split(',').any(|o| o == "memory"),
        };
        let (root, point) = (mount.get(3)?, mount.get(4)?);
        wanted.then(|| (PathBuf::from(unescape(root)), PathBuf::from(unescape(point))))
    })
}

/// A mountinfo path with its `\040`-style escapes undone.
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes
            .get(at + 1..at + 4)
            .filter(|d| bytes[at] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                at += 4;
            }
            None => {
                out.push(bytes[at]);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a config may start now, by memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Go,
    /// Not yet: try again after the duration; say why when there is a
    /// reason people should know (not for the second between two starts).
    Wait(Option<String>, Duration),
}

/// `--memfree SIZE`: starts only while SIZE is available, a second apart
/// while less than twice SIZE is.
#[derive(Debug)]
pub struct MemoryGuard {
    need: u64,
    meter: Meter,
    last_start: Option<Instant>,
}

impl MemoryGuard {
    /// Refuse (exit 2) a SIZE above the total.
    pub fn new(need: u64, meter: Meter) -> Result<MemoryGuard> {
        let reading =
            meter.read().map_err(|err| Error::state(format!("--memfree: cannot read memory: {err}")))?;
        if need > reading.total {
            return Err(Error::usage(format!(
                "--memfree {}: more than the {} of memory there is here (the lower of the host's and its memory cgroup's limit)",
                format_size(need),
                format_size(reading.total)
            )));
        }
        Ok(MemoryGuard { need, meter, last_start: None })
    }

    pub fn check(&self, now: Instant) -> Gate {
        let reading = match self.meter.read() {
            Ok(reading) => reading,
            Err(err) => return Gate::Wait(Some(format!("waiting: cannot read memory ({err})")), POLL),
        };
        self.judge(reading, now)
    }

    fn judge(&self, reading: Reading, now: Instant) -> Gate {
        if reading.available < self.need {
            let why = format!(
                "waiting for {} free memory ({} available)",
                format_size(self.need),
                format_size(reading.available)
            );
            return Gate::Wait(Some(why), POLL);
        }
        let since = self.last_start.map(|at| now.saturating_duration_since(at));
        match since {
            Some(since) if reading.available / 2 < self.need && since < SPACING => {
                Gate::Wait(None, SPACING - since)
            }
            _ => Gate::Go,
        }
    }

    /// A config started now.
    pub fn started(&mut self, now: Instant) {
        self.last_start = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    #[test]
    fn sizes_read_and_print_as_people_write_them() {
        assert_eq!(parse_size("512M"), Ok(512 * M));
        assert_eq!(parse_size("4G"), Ok(4 * G));
        assert_eq!(parse_size("4gb"), Ok(4 * G));
        assert_eq!(parse_size("2GiB"), Ok(2 * G));
        assert_eq!(parse_size("1.5G"), Ok(3 * G / 2));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["", "G", "4X", "-1G", "0", "1e3G", "99999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(format_size(4 * G), "4G");
        assert_eq!(format_size(21 * G / 10), "2.1G");
        assert_eq!(format_size(512 * M), "512M");
        assert_eq!(format_size(1000), "1000B");
    }

    #[test]
    fn meminfo_gives_total_and_available() {
        let text = "MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    8192 kB\n";
        assert_eq!(parse_meminfo(text), Some(Reading { available: 8192 * 1024, total: 16384 * 1024 }));
        let old = "MemTotal: 4096 kB\nMemFree: 1024 kB\nBuffers: 1024 kB\nCached: 1024 kB\n";
        assert_eq!(parse_meminfo(old).unwrap().available, 3072 * 1024);
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn the_runners_cgroups_are_found_from_its_own_up_to_the_mount() {
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
            35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
            41 31 0:38 /docker/c1 /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let cgroup = "4:memory:/job_7/step_0\n1:cpu:/x\n0::/docker/c1/inner\n";
        let dirs: Vec<(String, bool)> = memory_cgroups(cgroup, mountinfo)
            .into_iter()
            .map(|c| (c.dir.display().to_string(), c.v2))
            .collect();
        let expected = [
            ("/sys/fs/cgroup/memory/job_7/step_0", false),
            ("/sys/fs/cgroup/memory/job_7", false),
            ("/sys/fs/cgroup/memory", false),
            ("/sys/fs/cgroup/unified/inner", true),
            ("/sys/fs/cgroup/unified", true),
        ];
        assert_eq!(dirs, expected.map(|(dir, v2)| (dir.to_string(), v2)));
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }

    #[test]
    fn a_cgroup_limit_counts_its_usage_without_reclaimable_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("memory.max"), "1073741824\n").unwrap();
        std::fs::write(dir.join("memory.current"), format!("{}\n", 600 * M)).unwrap();
        std::fs::write(dir.join("memory.stat"), format!("anon 1\ninactive_file {}\n", 200 * M)).unwrap();
        let cgroup = Cgroup { dir: dir.to_path_buf(), v2: true };
        assert_eq!(cgroup.limit_and_use(), Some((G, 400 * M)));
        std::fs::write(dir.join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup.limit_and_use(), None);
        let meminfo = dir.join("meminfo");
        std::fs::write(&meminfo, "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n").unwrap();
        std::fs::write(dir.join("memory.max"), "1073741824\n").unwrap();
        let meter = Meter { meminfo, cgroups: vec![cgroup] };
        assert_eq!(meter.read().unwrap(), Reading { available: 624 * M, total: G });
    }

    #[test]
    fn starts_wait_for_memory_and_come_a_second_apart_while_it_is_short() {
        let tmp = tempfile::tempdir().unwrap();
        let meminfo = tmp.path().join("meminfo");
        std::fs::write(&meminfo, "MemTotal: 16777216 kB\nMemAvailable: 16777216 kB\n").unwrap();
        let meter = Meter { meminfo, cgroups: Vec::new() };
        assert!(
            MemoryGuard::new(17 * G, Meter { meminfo: meter.meminfo.clone(), cgroups: Vec::new() }).is_err()
        );
        let mut guard = MemoryGuard::new(4 * G, meter).unwrap();
        let now = Instant::now();
        let reading = |available| Reading { available, total: 16 * G };
        assert_eq!(guard.judge(reading(10 * G), now), Gate::Go);
        guard.started(now);
        assert_eq!(guard.judge(reading(10 * G), now), Gate::Go, "plenty: no spacing");
        assert!(matches!(guard.judge(reading(6 * G), now), Gate::Wait(None, _)), "short: a second apart");
        assert_eq!(guard.judge(reading(6 * G), now + SPACING), Gate::Go);
        let Gate::Wait(Some(why), _) = guard.judge(reading(21 * G / 10), now) else { panic!("must wait") };
        assert_eq!(why, "waiting for 4G free memory (2.1G available)");
    }
}
