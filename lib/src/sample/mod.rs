//! `exp-add --sample N --dist KEY=SPEC...`: configs drawn from
//! distributions, reproducibly. Draw k depends only on the seed, k and the
//! set of `--dist` keys, so a sample grows (`--sample 40` after `--sample
//! 20`) by draws 20 to 39 and nothing else. exp(7) documents the mapping
//! from seed to value, step by step, for anyone to reimplement.

mod dist;
mod normal;
mod random;
mod sobol;
mod spec;

pub use spec::{Dist, GRAMMAR};

use crate::error::{Error, Result};
use crate::model::Params;
use crate::rows::{Origin, Row};
use crate::values::split_assignment;
use std::rc::Rc;

/// The most draws one call takes (grid points times draws, too).
pub const MAX_DRAWS: u64 = 10_000_000;

/// The most significant digits a float can need.
pub const MAX_DIGITS: u32 = 17;

/// Where the uniform numbers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sampler {
    /// ChaCha8, one stream per draw.
    #[default]
    Random,
    /// An Owen-scrambled Sobol sequence, one point per draw.
    Sobol,
}

/// The sampling flags of `exp-add`, as given (None where not given).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub count: Option<u64>,
    pub dists: Vec<String>,
    pub seed: Option<u64>,
    pub sampler: Option<Sampler>,
    pub digits: Option<u32>,
}

/// A checked request: what to draw and how.
#[derive(Debug)]
pub struct Sampling {
    /// The keys in sorted order, each with its distribution.
    dists: Vec<(String, Dist)>,
    count: u64,
    seed: u64,
    digits: u32,
    /// The Sobol sequence's direction numbers and scrambles, if sobol.
    sobol: Option<sobol::Sobol>,
}

impl Sampling {
    /// The request checked whole; None when it asks for no sample.
    pub fn new(request: &Request) -> Result<Option<Sampling>> {
        let Some(count) = request.count else {
            let flag = [
                (!request.dists.is_empty(), "--dist"),
                (request.seed.is_some(), "--seed"),
                (request.sampler.is_some(), "--sampler"),
                (request.digits.is_some(), "--digits"),
            ]
            .into_iter()
            .find_map(|(given, flag)| given.then_some(flag));
            return match flag {
                Some(flag) => Err(Error::usage(format!(
                    "{flag} is for --sample N: add --sample N to draw N configs, e.g. --sample 20 --dist lr=loguniform(1e-5,1e-1)"
                ))),
                None => Ok(None),
            };
        };
        if count == 0 {
            return Err(Error::usage(
                "--sample 0 draws nothing: give the number of configs to draw, 1 or more",
            ));
        }
        if count > MAX_DRAWS {
            return Err(Error::usage(format!(
                "--sample {count}: more than 10 million draws; add them in parts"
            )));
        }
        if request.dists.is_empty() {
            return Err(Error::usage(format!(
                "--sample {count} needs a --dist KEY=SPEC for each key to draw, e.g. --dist lr=loguniform(1e-5,1e-1); {GRAMMAR}"
            )));
        }
        let digits = request.digits.unwrap_or(4);
        if digits > MAX_DIGITS {
            return Err(Error::usage(format!(
                "--digits {digits}: a float has at most {MAX_DIGITS} significant digits (0 keeps them all)"
            )));
        }
        let mut dists = request.dists.iter().map(|text| spec::parse(text)).collect::<Result<Vec<_>>>()?;
        dists.sort_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = dists.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(Error::usage(format!("--dist: key {:?} is given twice", pair[0].0)));
        }
        let seed = request.seed.unwrap_or(0);
        let sobol = match request.sampler.unwrap_or_default() {
            Sampler::Random => None,
            Sampler::Sobol => Some(sobol::Sobol::new(seed, dists.len())?),
        };
        Ok(Some(Sampling { dists, count, seed, digits, sobol }))
    }

    /// The drawn keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.dists.iter().map(|(key, _)| key.as_str())
    }

    /// Draw `k`: the drawn keys, in sorted order, with their values.
    /// `scratch` holds the uniform draws between calls.
    pub fn draw(&self, k: u64, scratch: &mut Vec<u64>) -> Params {
        match &self.sobol {
            Some(sobol) => sobol.point(k, scratch),
            None => random::draw(self.seed, k, self.dists.len(), scratch),
        }
        let values = self.dists.iter().zip(scratch.iter());
        values.map(|((key, dist), &m)| (key.clone(), dist.value(m, self.digits))).collect()
    }
}

/// `rows` each crossed with every draw of `sampling` (rows unchanged
/// without one): the first row with draws 0..N, then the next. Drawn as
/// they are read, so a million draws are never all held at once. `grid`
/// (the `--grid` flags) and each row must not set a drawn key.
pub fn cross<'a>(
    rows: Box<dyn Iterator<Item = Result<Row>> + 'a>,
    sampling: Option<Sampling>,
    grid: &[String],
) -> Result<Box<dyn Iterator<Item = Result<Row>> + 'a>> {
    let Some(sampling) = sampling else {
        return Ok(rows);
    };
    for axis in grid {
        let (key, _) = split_assignment("--grid", axis)?;
        if sampling.keys().any(|drawn| drawn == key) {
            return Err(Error::usage(format!("--dist {key}: key {key:?} is also a --grid key")));
        }
    }
    // Grid points are counted before they are crossed; lines are not.
    let points = rows.size_hint().0 as u64;
    if points.saturating_mul(sampling.count) > MAX_DRAWS {
        return Err(Error::usage(format!(
            "--sample {} crossed with {points} grid points makes more than 10 million configs; add them in parts",
            sampling.count
        )));
    }
    let sampling = Rc::new(sampling);
    Ok(Box::new(rows.flat_map(move |row| -> Box<dyn Iterator<Item = Result<Row>>> {
        let row = match row {
            Ok(row) => row,
            Err(err) => return Box::new(std::iter::once(Err(err))),
        };
        if let Some(key) = sampling.keys().find(|key| row.params.contains_key(*key)) {
            let err = Error::usage(format!("{}: key {key:?} is also a --dist key", row.origin()));
            return Box::new(std::iter::once(Err(err)));
        }
        let sampling = sampling.clone();
        let mut scratch = Vec::with_capacity(sampling.dists.len());
        Box::new((0..sampling.count).map(move |k| {
            let mut params = row.params.clone();
            params.extend(sampling.draw(k, &mut scratch));
            let origin = match &row.origin {
                Origin::Grid | Origin::Draw(_) => Origin::Draw(k),
                line => line.clone(),
            };
            Ok(Row { origin, params })
        }))
    })))
}

#[cfg(test)]
mod tests;
