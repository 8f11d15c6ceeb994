//! From a uniform draw to a param value: each distribution's inverse CDF
//! (quantile), then rounding and clamping. A draw is a 53-bit integer `m`,
//! standing for `u = m * 2^-53` in [0, 1); everything here is IEEE
//! arithmetic in a fixed order, integer arithmetic, or `libm`, so the same
//! `m` gives the same value on every platform.

use super::normal::inverse_cdf;
use super::spec::Dist;
use serde_json::{Number, Value};

/// 2^53: draws are below it.
pub const DRAWS: u64 = 1 << 53;

/// `m * 2^-53`, exactly (m has 53 bits; a power of two scales exactly).
pub fn unit(m: u64) -> f64 {
    debug_assert!(m < DRAWS);
    m as f64 / DRAWS as f64
}

/// `floor(u * n)`, exactly: which of `n` equal parts of [0, 1) `u` is in.
fn part(m: u64, n: u128) -> u128 {
    (u128::from(m) * n) >> 53
}

impl Dist {
    /// The value that draw `m` gives, floats rounded to `digits`
    /// significant digits (0: all of them).
    pub fn value(&self, m: u64, digits: u32) -> Value {
        let u = unit(m);
        // Rounding first, then clamping: a bound is never passed, even by
        // a value that rounds past it.
        let rounded = |x: f64| round(x, digits);
        match *self {
            Dist::Uniform { low, high } => float(rounded(low + u * (high - low)).clamp(low, high)),
            Dist::LogUniform { low, high } => {
                let (a, b) = (libm::log(low), libm::log(high));
                float(rounded(libm::exp(a + u * (b - a))).clamp(low, high))
            }
            Dist::Normal { mean, sd } => {
                // u = 0 would be minus infinity: the least draw is 2^-53.
                let u = if m == 0 { unit(1) } else { u };
                float(rounded(mean + inverse_cdf(u) * sd))
            }
            Dist::Int { low, high } => {
                let n = (i128::from(high) - i128::from(low) + 1) as u128;
                Value::from((i128::from(low) + part(m, n) as i128) as i64)
            }
            Dist::LogInt { low, high } => {
                let (a, b) = (libm::log(low as f64 - 0.5), libm::log(high as f64 + 0.5));
                let x = libm::floor(libm::exp(a + u * (b - a)) + 0.5) as i64;
                Value::from(x.clamp(low, high))
            }
            Dist::Choice(ref values) => values[part(m, values.len() as u128) as usize].clone(),
        }
    }
}

/// `x` to `digits` significant digits, as the decimal text Rust writes
/// (exact, round half to even) read back; 0 keeps every digit.
pub fn round(x: f64, digits: u32) -> f64 {
    if digits == 0 || !x.is_finite() {
        return x;
    }
    let text = format!("{:.*e}", digits as usize - 1, x);
    text.parse().unwrap_or(x)
}

/// A finite float as a JSON number; `-0.0` as `0.0`.
fn float(x: f64) -> Value {
    Number::from_f64(x + 0.0).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rounding_is_decimal_and_clamping_comes_after_it() {
        assert_eq!(round(0.123456, 4), 0.1235);
        assert_eq!(round(123456.0, 2), 120000.0);
        assert_eq!(round(-0.000987654, 3), -0.000988);
        assert_eq!(round(0.123456, 0), 0.123456);
        // Ties (exact in binary) go to the even digit, as printf's do.
        assert_eq!((round(0.125, 2), round(0.375, 2), round(2.5, 1), round(3.5, 1)), (0.12, 0.38, 2.0, 4.0));
        let top = DRAWS - 1;
        let lr = Dist::LogUniform { low: 1e-5, high: 0.09999 };
        assert_eq!(lr.value(top, 4), json!(0.09999));
        assert_eq!(lr.value(0, 4), json!(1e-5));
        let x = Dist::Uniform { low: 0.12, high: 0.98 };
        assert_eq!(x.value(0, 1), json!(0.12), "0.12 would round to 0.1");
        assert_eq!(x.value(top, 1), json!(0.98), "0.98 would round to 1");
        assert_eq!(x.value(DRAWS / 2, 0), json!(0.55));
    }

    #[test]
    fn integers_and_choices_are_taken_by_quantile() {
        let int = Dist::Int { low: -2, high: 2 };
        let at = |m: u64| int.value(m, 4);
        assert_eq!(
            (at(0), at(DRAWS / 5 - 1), at(DRAWS / 5 + 1), at(DRAWS - 1)),
            (json!(-2), json!(-2), json!(-1), json!(2))
        );
        let wide = Dist::Int { low: i64::MIN, high: i64::MAX };
        assert_eq!((wide.value(0, 4), wide.value(DRAWS - 1, 4)), (json!(i64::MIN), json!(i64::MAX - 2047)));
        let choice = Dist::Choice(vec![json!("a"), json!(1), json!(null)]);
        assert_eq!(choice.value(DRAWS / 3, 4), json!("a"));
        assert_eq!(choice.value(DRAWS / 3 + 1, 4), json!(1));
        assert_eq!(choice.value(DRAWS - 1, 4), json!(null));
        let log = Dist::LogInt { low: 1, high: 1000 };
        assert_eq!((log.value(0, 4), log.value(DRAWS - 1, 4)), (json!(1), json!(1000)));
        // Each integer k gets ln((k+0.5)/(k-0.5)) / ln(1000.5/0.5) of the draws: 1 gets 14.4%.
        let ones = (0..1000u64).filter(|i| log.value(i * (DRAWS / 1000), 4) == json!(1)).count();
        assert_eq!(ones, 145);
    }

    #[test]
    fn the_normal_reaches_its_tails_but_never_infinity() {
        let normal = Dist::Normal { mean: 10.0, sd: 2.0 };
        let low = normal.value(0, 0).as_f64().unwrap();
        assert!((-8.3..-7.0).contains(&((low - 10.0) / 2.0)), "{low}");
        assert_eq!(normal.value(DRAWS / 2, 4), json!(10.0));
        let high = normal.value(DRAWS - 1, 0).as_f64().unwrap();
        assert!(((high - 10.0) / 2.0) > 8.0, "{high}");
    }
}
