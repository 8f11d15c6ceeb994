//! Python's format specs for numbers in templates (`{lr:.2e}`, `{x:.3g}`,
//! `{i:03d}`): the same text as Python's `format(value, spec)` gives, so a
//! naming template written for a Python script names configs the same way.
//!
//! The grammar is Python's: `[[fill]align][sign][z][#][0][width][,|_][.precision][type]`,
//! with the types `d b o x X` (integers), `e E f F g G %` (floats; an
//! integer is converted) or none. Integers are JSON integers, floats JSON
//! numbers with a fraction or an exponent (as Python's json reads them);
//! `c`, `n` and `s` are not taken. Digits come from Rust's exact decimal
//! conversion, which rounds half to even on the exact binary value as
//! Python's does; the layout follows CPython's `format_float_short`.

use serde_json::Value;

/// A parsed format spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    fill: char,
    align: char,
    sign: char,
    /// `z`: a negative zero (after rounding) loses its sign.
    no_negative_zero: bool,
    /// `#`: a prefix for `b o x X`, a decimal point always, `g` keeps zeros.
    alternate: bool,
    width: usize,
    grouping: Option<char>,
    precision: Option<usize>,
    kind: Option<char>,
}

/// What an error about specs ends with.
pub const HINT: &str = "format specs are Python's for numbers, e.g. .2e (1.00e-03), .3g, .4f, 03d, +.1%";

/// The largest width or precision taken.
const MAX_DIGITS: usize = 999;

impl Spec {
    pub fn parse(text: &str) -> Result<Spec, String> {
        let bad = |why: &str| Err(format!("{text:?} is not a format spec: {why}; {HINT}"));
        let chars: Vec<char> = text.chars().collect();
        let at = |i: usize| chars.get(i).copied();
        let is_align = |c: Option<char>| c.is_some_and(|c| "<>=^".contains(c));
        let (mut i, mut fill, mut align) = (0, None, None);
        if is_align(at(1)) {
            (fill, align, i) = (at(0), at(1), 2);
        } else if is_align(at(0)) {
            (align, i) = (at(0), 1);
        }
        let mut sign = '-';
        if let Some(c @ ('+' | '-' | ' ')) = at(i) {
            sign = c;
            i += 1;
        }
        let no_negative_zero = at(i) == Some('z');
        i += usize::from(no_negative_zero);
        let alternate = at(i) == Some('#');
        i += usize::from(alternate);
        // `0` before the width: zero padding after the sign, unless a fill is given.
        if fill.is_none() && at(i) == Some('0') {
            fill = Some('0');
            align = align.or(Some('='));
            i += 1;
        }
        let digits = |i: &mut usize| {
            let start = *i;
            while at(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            (*i > start)
                .then(|| chars[start..*i].iter().collect::<String>().parse::<usize>().unwrap_or(usize::MAX))
        };
        let width = digits(&mut i).unwrap_or(0);
        let grouping = at(i).filter(|c| matches!(c, ',' | '_'));
        i += usize::from(grouping.is_some());
        let mut precision = None;
        if at(i) == Some('.') {
            i += 1;
            precision = digits(&mut i);
            if precision.is_none() {
                return bad("a '.' with no precision after it");
            }
        }
        let kind = at(i);
        if chars.len() > i + 1 {
            return bad("unexpected characters");
        }
        if width > MAX_DIGITS || precision.is_some_and(|p| p > MAX_DIGITS) {
            return bad(&format!("a width or precision above {MAX_DIGITS}"));
        }
        match kind {
            None | Some('e' | 'E' | 'f' | 'F' | 'g' | 'G' | '%') => {}
            Some('d' | 'b' | 'o' | 'x' | 'X') => {
                if precision.is_some() {
                    return bad("no precision with an integer type");
                }
                if no_negative_zero {
                    return bad("no z with an integer type");
                }
            }
            Some(c @ ('c' | 'n' | 's')) => return bad(&format!("type {c:?} is not taken")),
            Some(c) => return bad(&format!("unknown type {c:?}")),
        }
        if grouping == Some(',') && matches!(kind, Some('b' | 'o' | 'x' | 'X')) {
            return bad("',' groups decimal digits only (use '_')");
        }
        Ok(Spec {
            fill: fill.unwrap_or(' '),
            align: align.unwrap_or('>'),
            sign,
            no_negative_zero,
            alternate,
            width,
            grouping,
            precision,
            kind,
        })
    }

    /// `value` formatted, or why not (it is not a number, or not one this
    /// spec takes).
    pub fn format(&self, value: &Value) -> Result<String, String> {
        let Value::Number(number) = value else {
            return Err(format!("{value} is not a number, and format specs are for numbers"));
        };
        let integer = number.as_i64().map(i128::from).or_else(|| number.as_u64().map(i128::from));
        match (integer, self.kind) {
            (Some(n), None | Some('d' | 'b' | 'o' | 'x' | 'X')) => self.integer(n),
            (Some(n), _) => Ok(self.float(n as f64)),
            (None, Some(kind @ ('d' | 'b' | 'o' | 'x' | 'X'))) => {
                Err(format!("{value} is not an integer, and type {kind:?} formats integers"))
            }
            (None, _) => Ok(self.float(number.as_f64().unwrap_or(f64::NAN))),
        }
    }

    fn integer(&self, n: i128) -> Result<String, String> {
        if self.precision.is_some() || self.no_negative_zero {
            return Err(format!("{n} is an integer: a spec without a type takes no precision or z for it"));
        }
        let magnitude = n.unsigned_abs();
        let (digits, prefix) = match self.kind {
            Some('b') => (format!("{magnitude:b}"), "0b"),
            Some('o') => (format!("{magnitude:o}"), "0o"),
            Some('x') => (format!("{magnitude:x}"), "0x"),
            Some('X') => (format!("{magnitude:X}"), "0X"),
            _ => (magnitude.to_string(), ""),
        };
        let prefix = if self.alternate { prefix } else { "" };
        let group = if matches!(self.kind, Some('b' | 'o' | 'x' | 'X')) { 4 } else { 3 };
        Ok(self.finish(n < 0, prefix, &digits, "", group))
    }

    fn float(&self, x: f64) -> String {
        let kind = self.kind.unwrap_or('r');
        let (x, suffix) = if kind == '%' { (x * 100.0, "%") } else { (x, "") };
        let (mut body, negative) = if x.is_finite() {
            let lower = match kind {
                '%' | 'F' => 'f',
                'E' => 'e',
                'G' => 'g',
                // No type but a precision: like `g`, with a `.0` on integers.
                'r' if self.precision.is_some() => 'p',
                other => other,
            };
            (self.digits(x.abs(), lower), x.is_sign_negative())
        } else if x.is_nan() {
            ("nan".to_string(), false)
        } else {
            ("inf".to_string(), x < 0.0)
        };
        if matches!(kind, 'E' | 'F' | 'G') {
            body = body.to_uppercase();
        }
        let zero = body.split(['e', 'E']).next().is_some_and(|m| m.chars().all(|c| c == '0' || c == '.'));
        let negative = negative && !(self.no_negative_zero && zero);
        let split = body.find(|c: char| !c.is_ascii_digit()).unwrap_or(body.len());
        let (whole, rest) = body.split_at(split);
        self.finish(negative, "", whole, &format!("{rest}{suffix}"), 3)
    }

    /// `x` (finite, not negative) in mode `e`, `f`, `g`, `r` (Python's
    /// repr) or `p` (no type but a precision).
    fn digits(&self, x: f64, mode: char) -> String {
        let (digits, decpt, precision) = match mode {
            'f' => {
                let p = self.precision.unwrap_or(6);
                let (digits, decpt) = fixed_digits(&format!("{x:.p$}"));
                (digits, decpt, p)
            }
            'r' => {
                let (digits, decpt) = shortest(x);
                (digits, decpt, 0)
            }
            _ => {
                let p = match mode {
                    'e' => self.precision.unwrap_or(6) + 1,
                    _ => self.precision.unwrap_or(6).max(1),
                };
                let (digits, decpt) = scientific_digits(&format!("{x:.prec$e}", prec = p - 1));
                (digits, decpt, p)
            }
        };
        layout(&digits, decpt, mode, precision, self.alternate)
    }

    /// Sign, prefix, grouped digits and the rest, padded to the width.
    fn finish(&self, negative: bool, prefix: &str, whole: &str, rest: &str, group: usize) -> String {
        let sign = match (negative, self.sign) {
            (true, _) => "-",
            (false, '+') => "+",
            (false, ' ') => " ",
            _ => "",
        };
        let fixed = sign.len() + prefix.len() + rest.chars().count();
        let whole = match self.grouping.filter(|_| !whole.is_empty()) {
            Some(separator) => {
                let zeros =
                    if self.fill == '0' && self.align == '=' { self.width.saturating_sub(fixed) } else { 0 };
                grouped(whole, separator, group, zeros)
            }
            None => whole.to_string(),
        };
        let padding = self.width.saturating_sub(fixed + whole.chars().count());
        let pad = |n: usize| self.fill.to_string().repeat(n);
        match self.align {
            '<' => format!("{sign}{prefix}{whole}{rest}{}", pad(padding)),
            '^' => format!("{}{sign}{prefix}{whole}{rest}{}", pad(padding / 2), pad(padding - padding / 2)),
            '=' => format!("{sign}{prefix}{}{whole}{rest}", pad(padding)),
            _ => format!("{}{sign}{prefix}{whole}{rest}", pad(padding)),
        }
    }
}

/// The fewest digits that read back as `x`, as Python's repr finds them:
/// where two are as near, the even one (Rust's shortest form rounds such a
/// tie up; its exact form rounds half to even, as Python does).
fn shortest(x: f64) -> (String, i64) {
    let short = format!("{x:e}");
    let (digits, _) = scientific_digits(&short);
    let exact = format!("{x:.prec$e}", prec = digits.len() - 1);
    if exact.parse::<f64>() == Ok(x) {
        return scientific_digits(&exact);
    }
    scientific_digits(&short)
}

/// The significant digits of Rust's `d.ddde-3` (trailing zeros dropped, as
/// dtoa gives them) and where the decimal point goes (0.DIGITS x 10^decpt).
fn scientific_digits(text: &str) -> (String, i64) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    normalize(digits, exponent + 1)
}

/// The same for Rust's fixed `1234.5600`.
fn fixed_digits(text: &str) -> (String, i64) {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    normalize(format!("{whole}{fraction}"), whole.len() as i64)
}

/// No leading or trailing zeros; zero is `0` with the point after it.
fn normalize(digits: String, decpt: i64) -> (String, i64) {
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let digits = digits.trim_start_matches('0').trim_end_matches('0');
    if digits.is_empty() {
        return ("0".to_string(), 1);
    }
    (digits.to_string(), decpt - leading as i64)
}

/// CPython's `format_float_short` layout: `digits` x 10^(decpt - len) as
/// text, for `mode` `e`, `f`, `g`, `r` or `p` (`g` with `.0` on integers).
fn layout(digits: &str, decpt: i64, mode: char, precision: usize, alternate: bool) -> String {
    let len = digits.len() as i64;
    let precision = precision as i64;
    let add_dot_0 = matches!(mode, 'r' | 'p');
    let (mut decpt, mut use_exp, mut end) = (decpt, false, len);
    match mode {
        'e' => {
            use_exp = true;
            end = precision;
        }
        'f' => end = decpt + precision,
        'g' | 'p' => {
            use_exp = decpt <= -4 || decpt > if add_dot_0 { precision - 1 } else { precision };
            if alternate {
                end = precision;
            }
        }
        _ => use_exp = decpt <= -4 || decpt > 16,
    }
    let exponent = decpt - 1;
    if use_exp {
        decpt = 1;
    }
    let start = if decpt <= 0 { decpt - 1 } else { 0 };
    end = if !use_exp && add_dot_0 { end.max(decpt + 1) } else { end.max(decpt) };
    let zeros = |n: i64| "0".repeat(n.max(0) as usize);
    let mut out = String::new();
    if decpt <= 0 {
        out += &zeros(decpt - start);
        out.push('.');
        out += &zeros(-decpt);
    }
    if 0 < decpt && decpt <= len {
        out += &digits[..decpt as usize];
        out.push('.');
        out += &digits[decpt as usize..];
    } else {
        out += digits;
    }
    if len < decpt {
        out += &zeros(decpt - len);
        out.push('.');
        out += &zeros(end - decpt);
    } else {
        out += &zeros(end - len);
    }
    if out.ends_with('.') && !alternate {
        out.pop();
    }
    if use_exp {
        out += &format!("e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs());
    }
    out
}

/// `digits` with `separator` every `group` digits from the right, padded
/// with zeros (grouped too) to at least `min_width` characters, as CPython's
/// `_PyUnicode_InsertThousandsGrouping` does.
fn grouped(digits: &str, separator: char, group: usize, min_width: usize) -> String {
    let mut reversed: Vec<char> = Vec::new();
    let mut source = digits.chars().rev();
    let (mut remaining, mut min_width) = (digits.len() as i64, min_width as i64);
    let mut first = true;
    loop {
        let len = (group as i64).min(remaining.max(min_width).max(1));
        let chars = remaining.min(len).max(0);
        if !first {
            reversed.push(separator);
        }
        first = false;
        reversed.extend(source.by_ref().take(chars as usize));
        reversed.extend(std::iter::repeat_n('0', (len - chars).max(0) as usize));
        remaining -= chars;
        min_width -= len;
        if remaining <= 0 && min_width <= 0 {
            break;
        }
        min_width -= 1;
    }
    reversed.into_iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn format(value: Value, spec: &str) -> String {
        Spec::parse(spec).and_then(|s| s.format(&value)).unwrap_or_else(|e| format!("!{e}"))
    }

    #[test]
    fn the_usual_specs() {
        assert_eq!(format(json!(0.001), ".2e"), "1.00e-03");
        assert_eq!(format(json!(0.001), ".3g"), "0.001");
        assert_eq!(format(json!(1234.5678), ".3g"), "1.23e+03");
        assert_eq!(format(json!(0.1), ".4f"), "0.1000");
        assert_eq!(format(json!(7), "03d"), "007");
        assert_eq!(format(json!(-7), "03d"), "-07");
        assert_eq!(format(json!(7), ".2e"), "7.00e+00");
        assert_eq!(format(json!(0.125), ".2f"), "0.12");
        assert_eq!(format(json!(1e-7), ""), "1e-07");
        assert!(format(json!(1.0), "03d").contains("not an integer"));
        assert!(format(json!("adam"), ".2e").contains("not a number"));
        assert!(format(json!(true), "d").contains("not a number"));
    }

    #[test]
    fn malformed_specs() {
        for bad in [".2q", "q", ".", "5.", ".2d", "zd", ",x", ",_d", "c", "n", "s", ".2ee", "1000", ".1000f"]
        {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }
}
