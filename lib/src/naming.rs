//! Config names: a UUID v4, or a naming template; always one safe path component.

use crate::error::Result;
use crate::model::Params;
use crate::template::Template;

/// The longest name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// Make `raw` a safe path component: `[A-Za-z0-9._-]`, not starting with `.`
/// (a hidden file) nor `-` (an option to every command given the name), at
/// most 200 bytes, never empty.
pub fn sanitize(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    if name.starts_with(['.', '-']) {
        name.replace_range(0..1, "_");
    }
    name.truncate(MAX_NAME_LEN);
    if name.is_empty() {
        name.push('_');
    }
    name
}

pub fn is_safe(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A fresh name for `params`: from the template if there is one, else a UUID.
/// `taken` says whether a name is in use; a clash gets a short suffix derived
/// from `identity`, then a counter.
pub fn new_name(
    template: Option<&Template>,
    params: &Params,
    identity: &str,
    taken: impl Fn(&str) -> bool,
) -> Result<String> {
    let base = match template {
        Some(template) => sanitize(&template.render_plain(params, &Default::default())?),
        None => uuid::Uuid::new_v4().to_string(),
    };
    if !taken(&base) {
        return Ok(base);
    }
    let hash = format!("{:016x}", crate::hash::fnv1a(identity.as_bytes()));
    let stem = |suffix: &str| {
        let mut stem = base.clone();
        stem.truncate(MAX_NAME_LEN - suffix.len());
        stem + suffix
    };
    let first = stem(&format!("-{}", &hash[..6]));
    if !taken(&first) {
        return Ok(first);
    }
    let mut n = 2u64;
    loop {
        let name = stem(&format!("-{}-{n}", &hash[..6]));
        if !taken(&name) {
            return Ok(name);
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_component() {
        assert_eq!(sanitize("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(sanitize("a b/c"), "a_b_c");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize("-rf"), "_rf");
        assert_eq!(sanitize("--"), "_-");
        assert_eq!(sanitize(&"x".repeat(300)).len(), MAX_NAME_LEN);
        assert!(is_safe("resnet-lr0.1_seed2"));
    }
}
