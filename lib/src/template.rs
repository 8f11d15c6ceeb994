//! Templates: `{key}` placeholders filled from params, `{{` and `}}` for
//! literal braces. Used for commands, naming and `--env` values.
//!
//! `{a.b}` reaches into a nested param (a param whose own name is `a.b`
//! wins); `{name}`, `{dir}` and `{worker}` are filled by exp, and
//! `{worker%N}` is the worker slot modulo N. `{lr:.2e}` formats a number
//! as Python's `format(lr, ".2e")` does ([`crate::format_spec`]; a param
//! whose own key is `lr:.2e` wins). In a shell template each
//! value is quoted for where it stands ([`crate::shell`]).

use crate::error::{Error, Result};
use crate::format_spec::Spec;
use crate::model::{Command, Params};
use crate::shell::{self, Item, Refusal, Spot};
use crate::values::display_value;
use std::collections::BTreeMap;

/// Placeholders filled by exp itself rather than by params.
pub const BUILTINS: [&str; 4] = ["name", "dir", "worker", DEVICES];
/// `{devices}`: the tokens `exp-run --devices` gives a config (a param of
/// that name wins over them).
pub const DEVICES: &str = "devices";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Key(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Values of the builtin placeholders for one run of one config.
pub type Builtins = BTreeMap<&'static str, String>;

impl Template {
    pub fn parse(text: &str) -> Result<Template> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let rest = &text[at + 1..];
                    let end = rest.find(['{', '}']).filter(|&i| rest[i..].starts_with('}'));
                    let Some(end) = end else {
                        return Err(Error::usage(format!(
                            "template {text:?}: unclosed '{{' at byte {at} (write '{{{{' for a literal brace)"
                        )));
                    };
                    let key = rest[..end].trim();
                    if key.is_empty() {
                        return Err(Error::usage(format!("template {text:?}: empty placeholder '{{}}'")));
                    }
                    // `{lr:.2e}`: a param and a format spec, whose characters a
                    // name may not hold.
                    let with_spec = key
                        .split_once(':')
                        .is_some_and(|(field, spec)| is_param_name(field) && Spec::parse(spec).is_ok());
                    if !is_param_name(key) && !with_spec {
                        let placeholder = &text[at..at + 1 + end + 1];
                        let literal = placeholder.replace('{', "{{").replace('}', "}}");
                        return Err(Error::usage(format!(
                            "template {text:?}: {placeholder:?} is not a param name; for literal braces write \
                             {{{{ and }}}}, e.g. {literal}"
                        )));
                    }
                    if let Some(modulo) = field(key).strip_prefix("worker%") {
                        if !modulo.parse::<u64>().is_ok_and(|n| n > 0) {
                            return Err(Error::usage(format!(
                                "template {text:?}: {{{key}}}: expected {{worker%N}} with N a positive integer"
                            )));
                        }
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Key(key.to_string()));
                    let after = at + 1 + end + 1;
                    while chars.peek().is_some_and(|&(i, _)| i < after) {
                        chars.next();
                    }
                }
                '}' => {
                    return Err(Error::usage(format!(
                        "template {text:?}: unmatched '}}' at byte {at} (write '}}}}' for a literal brace)"
                    )));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// The placeholder keys this template uses, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Key(key) => Some(key.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// Fill in values as they are (argv elements, names, environment values).
    pub fn render_plain(&self, params: &Params, builtins: &Builtins) -> Result<String> {
        self.render(params, builtins, |_, value| value)
    }

    /// Fill in each value as `quote` makes it, given the placeholder's
    /// place among the template's placeholders.
    fn render(
        &self,
        params: &Params,
        builtins: &Builtins,
        mut quote: impl FnMut(usize, String) -> String,
    ) -> Result<String> {
        let mut out = String::new();
        let mut hole = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Key(key) => {
                    out.push_str(&quote(hole, value_of(params, builtins, key)?));
                    hole += 1;
                }
            }
        }
        Ok(out)
    }

    /// Refuse a format spec that is not one (`{lr:.2q}`), with the hint;
    /// at exp-init, where a param whose key holds the `:` cannot exist yet.
    pub fn check_specs(&self) -> Result<()> {
        for key in self.keys() {
            if let Some((field, spec)) = key.split_once(':') {
                if field.is_empty() {
                    return Err(Error::usage(format!("{{{key}}}: no param before the ':' of a format spec")));
                }
                Spec::parse(spec).map_err(|why| Error::usage(format!("{{{key}}}: {why}")))?;
            }
        }
        Ok(())
    }

    /// The template as the shell lexer reads it.
    fn items(&self) -> Vec<Item> {
        let mut items = Vec::new();
        let mut hole = 0;
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => items.extend(text.chars().map(Item::Char)),
                Piece::Key(_) => {
                    items.push(Item::Hole(hole));
                    hole += 1;
                }
            }
        }
        items
    }
}

/// The value a placeholder stands for: `{key}`, or `{key:SPEC}` formatted
/// as Python would (a param whose own key holds the `:` wins).
fn value_of(params: &Params, builtins: &Builtins, key: &str) -> Result<String> {
    if let Some(value) = builtin(builtins, key) {
        return Ok(value);
    }
    if let Some(value) = lookup(params, key) {
        return Ok(display_value(value));
    }
    let missing = || Error::usage(format!("missing param {key:?}"));
    let (field, spec) = key.split_once(':').ok_or_else(missing)?;
    let value = match builtin(builtins, field) {
        // The worker slot is a number; a name or a folder is text.
        Some(text) => {
            text.parse::<u64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(text))
        }
        None => lookup(params, field).ok_or_else(missing)?.clone(),
    };
    formatted(key, spec, &value)
}

/// `value` as `{key}`'s spec formats it.
fn formatted(key: &str, spec: &str, value: &serde_json::Value) -> Result<String> {
    Spec::parse(spec)
        .and_then(|spec| spec.format(value))
        .map_err(|why| Error::usage(format!("{{{key}}}: {why}")))
}

/// The param (or builtin) a key reads: `lr` of `{lr:.2e}`.
pub fn field(key: &str) -> &str {
    key.split_once(':').map_or(key, |(field, _)| field)
}

/// A shell template: each placeholder with where it stands, so that its
/// value is quoted for that place (see [`crate::shell`]).
#[derive(Debug, Clone)]
pub struct ShellTemplate {
    template: Template,
    spots: Vec<Spot>,
}

impl ShellTemplate {
    /// Parse `text`, refusing a placeholder that stands where exp cannot
    /// quote its value.
    pub fn parse(text: &str) -> Result<ShellTemplate> {
        let template = Template::parse(text)?;
        let keys: Vec<&str> = template.keys().collect();
        let mut spots = Vec::with_capacity(keys.len());
        for (key, spot) in keys.iter().zip(shell::spots(&template.items())) {
            spots.push(spot.map_err(|why| refusal(key, why))?);
        }
        Ok(ShellTemplate { template, spots })
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.template.keys()
    }

    /// The script, each value quoted for where it stands.
    pub fn render(&self, params: &Params, builtins: &Builtins) -> Result<String> {
        self.template.render(params, builtins, |hole, value| self.spots[hole].quote(&value))
    }
}

/// Why `{key}` cannot stand where it does, and what to write instead.
fn refusal(key: &str, why: Refusal) -> Error {
    let variable = match key {
        "name" => "\"$EXP_NAME\"".to_string(),
        "dir" => "\"$EXP_CONFIG_DIR\"".to_string(),
        "worker" => "\"$EXP_WORKER\"".to_string(),
        DEVICES => "\"$EXP_DEVICES\"".to_string(),
        _ => match key.strip_prefix("worker%") {
            Some(n) => format!("\"$((EXP_WORKER % {n}))\""),
            None => format!("\"${}\"", param_variable(field(key))),
        },
    };
    let fix = format!("write {variable} there instead, or set a variable first (v={{{key}}}; ... \"$v\")");
    Error::usage(match why {
        Refusal::AfterDollar => format!(
            "{{{key}}} stands right after a $: for the shell variable write ${{{{{key}}}}}, for a literal $ \
             write \\$; for the value, {fix}"
        ),
        Refusal::AfterBackslash => format!(
            "{{{key}}} stands right after a backslash, which would escape the quote exp puts around its \
             value: drop the backslash (values need no escaping), or {fix}"
        ),
        Refusal::Inside(place @ "in a comment") => format!(
            "{{{key}}} stands {place}, where a newline in its value would end the comment and run the \
             rest: take it out of the comment, or {fix}"
        ),
        Refusal::Inside(place @ "in a here-document") => format!(
            "{{{key}}} stands {place}, where a line of its value could end the document and run the \
             rest: write {} there instead (with an unquoted delimiter, the here-document expands it)",
            variable.trim_matches('"')
        ),
        Refusal::Inside(place) => {
            format!("{{{key}}} stands {place}, where exp cannot quote its value: {fix}")
        }
        Refusal::After(what) => {
            format!("{{{key}}} comes after {what}, where exp cannot be sure how sh reads the template: {fix}")
        }
    })
}

/// A parsed command: the argv form or the shell form.
#[derive(Debug, Clone)]
pub enum CommandTemplate {
    Argv(Vec<Template>),
    Shell(ShellTemplate),
}

impl CommandTemplate {
    pub fn parse(command: &Command) -> Result<CommandTemplate> {
        if matches!(command, Command::Argv(argv) if argv.is_empty()) {
            return Err(Error::usage("the command is empty; exp-init --update -- CMD... gives it one"));
        }
        Ok(match command {
            Command::Argv(argv) => {
                CommandTemplate::Argv(argv.iter().map(|a| Template::parse(a)).collect::<Result<_>>()?)
            }
            Command::Shell(line) => CommandTemplate::Shell(ShellTemplate::parse(line)?),
        })
    }

    /// The command an experiment holds: one that this version refuses
    /// (it was stored by an older one) is replaced with `exp-init --update`.
    pub fn parse_stored(command: &Command) -> Result<CommandTemplate> {
        CommandTemplate::parse(command).map_err(|err| {
            let how = match command {
                Command::Shell(_) => "exp-init --update --shell 'CMD'",
                Command::Argv(_) => "exp-init --update -- CMD...",
            };
            Error::usage(format!("the experiment's command: {err}; {how} replaces it"))
        })
    }

    /// See [`Template::check_specs`].
    pub fn check_specs(&self) -> Result<()> {
        match self {
            CommandTemplate::Argv(argv) => argv.iter().try_for_each(Template::check_specs),
            CommandTemplate::Shell(line) => line.template.check_specs(),
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            CommandTemplate::Argv(argv) => argv.iter().flat_map(Template::keys).collect(),
            CommandTemplate::Shell(line) => line.keys().collect(),
        }
    }

    /// The program and arguments to execute.
    pub fn render(&self, params: &Params, builtins: &Builtins) -> Result<Vec<String>> {
        let argv = match self {
            CommandTemplate::Argv(argv) => {
                argv.iter().map(|arg| arg.render_plain(params, builtins)).collect::<Result<Vec<_>>>()?
            }
            CommandTemplate::Shell(line) => {
                vec!["sh".to_string(), "-c".to_string(), line.render(params, builtins)?]
            }
        };
        // Only a hand-edited state can hold one: exp-add refuses them.
        if argv.iter().any(|arg| arg.contains('\0')) {
            let key = self
                .keys()
                .into_iter()
                .find(|key| value_of(params, builtins, key).is_ok_and(|v| v.contains('\0')));
            return Err(Error::usage(format!(
                "param {:?} holds a NUL character, which no command can receive; exp-clean --names removes \
                 the config",
                key.map(field).unwrap_or("?")
            )));
        }
        Ok(argv)
    }
}

/// Whether `key` can name a param in a placeholder: no spaces and none of
/// the characters of shell syntax, so `{ echo hi; }` is caught as a mistake.
fn is_param_name(key: &str) -> bool {
    !key.chars().any(|c| c.is_whitespace() || c.is_control() || ";&|<>(){}$'\"`\\!*?[]#~=".contains(c))
}

/// The value of a builtin placeholder, `{worker%N}` included.
fn builtin(builtins: &Builtins, key: &str) -> Option<String> {
    if let Some(value) = builtins.get(key) {
        return Some(value.clone());
    }
    let modulo: u64 = key.strip_prefix("worker%")?.parse().ok()?;
    let worker: u64 = builtins.get("worker")?.parse().ok()?;
    Some((worker % modulo).to_string())
}

/// Whether `key` names a builtin among `allowed`.
pub fn is_builtin(key: &str, allowed: &[&str]) -> bool {
    allowed.contains(&key) || (key.starts_with("worker%") && allowed.contains(&"worker"))
}

/// A param by its key, or by a dotted path into nested objects (and array
/// indices); a param whose own name holds the dots wins.
pub fn lookup<'a>(params: &'a Params, key: &str) -> Option<&'a serde_json::Value> {
    if let Some(value) = params.get(key) {
        return Some(value);
    }
    let (first, rest) = key.split_once('.')?;
    let mut value = params.get(first)?;
    for part in rest.split('.') {
        value = match value {
            serde_json::Value::Object(map) => map.get(part)?,
            serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(value)
}

/// Whether a template key reads the top-level param `param` (itself, or
/// something nested in it).
pub fn reads_param(key: &str, param: &str) -> bool {
    let reads = |key: &str| key == param || key.strip_prefix(param).is_some_and(|rest| rest.starts_with('.'));
    reads(key) || reads(field(key))
}

/// Check that every key `templates` use is a param or a builtin.
pub fn check_keys<'a>(
    keys: impl IntoIterator<Item = &'a str>,
    params: &Params,
    allowed_builtins: &[&str],
) -> Result<()> {
    for key in keys {
        if lookup(params, key).is_some() || is_builtin(key, allowed_builtins) {
            continue;
        }
        if let Some((field, spec)) = key.split_once(':') {
            if let Some(value) = lookup(params, field) {
                formatted(key, spec, value)?;
                continue;
            }
            if is_builtin(field, allowed_builtins) {
                if !field.starts_with("worker") {
                    return Err(Error::usage(format!(
                        "{{{key}}}: {{{field}}} is text, and format specs are for numbers"
                    )));
                }
                continue;
            }
        }
        let root = field(key).split('.').next().unwrap_or(key);
        return Err(Error::usage(format!(
            "missing param {:?} used by the template; give it to every config, or a default \
             (exp-add --default {root}=VALUE)",
            field(key)
        )));
    }
    Ok(())
}

/// `EXP_PARAM_<KEY>`: the key upper-cased, other characters as `_`.
pub fn param_variable(key: &str) -> String {
    let suffix: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    format!("EXP_PARAM_{suffix}")
}

/// Quote for POSIX sh: the value arrives as one word, verbatim.
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/=:,+@%".contains(&b)) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params() -> Params {
        json!({"lr": 0.1, "model": "res net", "evil": "$(touch x); `id` 'q'"}).as_object().unwrap().clone()
    }

    #[test]
    fn placeholders_and_escapes() {
        let t = Template::parse("{{lit}} --lr={lr} {model}").unwrap();
        assert_eq!(t.keys().collect::<Vec<_>>(), ["lr", "model"]);
        assert_eq!(t.render_plain(&params(), &Builtins::new()).unwrap(), "{lit} --lr=0.1 res net");
        let unicode = Template::parse("{é}-x{lr}").unwrap();
        assert_eq!(unicode.keys().collect::<Vec<_>>(), ["é", "lr"]);
    }

    #[test]
    fn nested_keys_and_worker_modulo() {
        let params = json!({"model": {"depth": 3, "dims": [8, 16]}, "a.b": 1}).as_object().unwrap().clone();
        let builtins = Builtins::from([("worker", "5".to_string())]);
        let t = Template::parse("{model.depth}/{model.dims.1}/{a.b}/{worker%4}/{worker}").unwrap();
        assert_eq!(t.render_plain(&params, &builtins).unwrap(), "3/16/1/1/5");
        assert!(check_keys(["model.width"], &params, &BUILTINS).is_err());
        assert!(check_keys(["model.depth", "worker%2"], &params, &BUILTINS).is_ok());
        assert!(check_keys(["worker%2"], &params, &[]).is_err());
        assert!(reads_param("model.depth", "model") && !reads_param("models", "model"));
    }

    #[test]
    fn format_specs_for_numbers() {
        let params = json!({"lr": 0.001, "i": 7, "s": "x", "lr:.2e": "own"}).as_object().unwrap().clone();
        let builtins = Builtins::from([("worker", "3".to_string()), ("name", "n".to_string())]);
        let t =
            Template::parse("{lr:.2e}|{i:03d}|{i:>5}|{worker:02d}|{worker%2:+d}|{lr:.3g}|{i: d}").unwrap();
        assert_eq!(t.render_plain(&params, &builtins).unwrap(), "own|007|    7|03|+1|0.001| 7");
        assert!(t.check_specs().is_ok());
        assert!(Template::parse("{lr:.2q}").unwrap().check_specs().is_err());
        assert!(Template::parse("{ lr: x; }").is_err(), "not a spec, nor a name");
        let err = Template::parse("{s:.2f}").unwrap().render_plain(&params, &builtins).unwrap_err();
        assert!(err.message.contains("\"x\" is not a number"), "{err}");
        assert!(check_keys(["i:03d", "worker:02d"], &params, &BUILTINS).is_ok());
        assert!(check_keys(["s:03d"], &params, &BUILTINS).is_err());
        assert!(check_keys(["name:03d"], &params, &BUILTINS).is_err());
        let err = check_keys(["nope:.2e"], &params, &BUILTINS).unwrap_err();
        assert!(err.message.contains("--default nope=VALUE"), "{err}");
        assert!(reads_param("lr:.2e", "lr") && reads_param("a.b:.2e", "a") && !reads_param("lr:.2e", "l"));
    }

    #[test]
    fn a_value_with_a_nul_character_is_refused_by_commands() {
        let params = json!({"x": "a\u{0}b", "y": 1}).as_object().unwrap().clone();
        for command in
            [Command::Shell("echo {y} {x}".into()), Command::Argv(vec!["echo".into(), "{x}".into()])]
        {
            let err =
                CommandTemplate::parse(&command).unwrap().render(&params, &Builtins::new()).unwrap_err();
            assert!(err.message.contains("param \"x\" holds a NUL"), "{err}");
        }
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["{lr", "lr}", "{}", "{a{b}", "{worker%0}", "{worker%x}", "test 1 || { echo hi; }", "{$x}"]
        {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_values_are_quoted_for_where_they_stand() {
        let t = ShellTemplate::parse(r#"echo {evil} "{evil}" '{evil}' {lr} "{lr}""#).unwrap();
        assert_eq!(
            t.render(&params(), &Builtins::new()).unwrap(),
            r#"echo '$(touch x); `id` '\''q'\''' ""'$(touch x); `id` '\''q'\'''"" '$(touch x); `id` '\''q'\''' 0.1 "0.1""#
        );
        let err = ShellTemplate::parse("echo $(cat {dir}/x) {worker%2}").unwrap_err();
        assert!(
            err.message.contains("{dir} stands inside $(...)") && err.message.contains("$EXP_CONFIG_DIR")
        );
        let err = ShellTemplate::parse("echo `echo {worker%2}`").unwrap_err();
        assert!(err.message.contains("$((EXP_WORKER % 2))"), "{err}");
    }
}
