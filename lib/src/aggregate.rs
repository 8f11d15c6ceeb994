//! `exp-summary --over K1[,K2...]`: the done configs grouped by every param
//! but K1..., with statistics of each numeric result field per group (the
//! mean and spread over seeds, folds, repeats that a paper reports).
//!
//! A group is the configs of one experiment whose params (merged over the
//! defaults) are equal once the K's are taken out; groups come in the order
//! their first config is met. A K names a param as the summary's columns do
//! (`seed`, or `model.seed` for a nested one; `model` takes out the whole
//! object). Configs that are not done are left out. A field is numeric when
//! it is a JSON number in at least one done config; each statistic is over
//! the group's configs where it is a number, in f64. Strings, booleans,
//! arrays and null are left out.
//!
//! CSV: `experiment` (of several experiments), the group's params
//! (flattened, not the K's), `n` (done configs in the group), then
//! `FIELD.STAT` for each numeric field and each stat asked for (default
//! `mean,std`). Columns are named as in the summary (the reserved ones,
//! [`crate::results::RESERVED`], taken first: a param `n` is `param.n`). A
//! number is written in its shortest round-trip form ([`format_number`]:
//! `0.1`, `2`, `1e-7`, `1.5e+300`); a stat that has no value (`std` of
//! fewer than 2 values, any stat of none) is an empty cell.
//!
//! JSON Lines, one per group:
//! `{"experiment"?, "params": {...}, "n": N, "stats": {"FIELD": {"mean": M, "std": S}}}`,
//! params unflattened without the K's, every numeric field in every line,
//! a stat with no value `null`; each number's JSON text is the CSV cell.
//!
//! [`read`] gives the groups as data (each field's values kept), for the
//! HTML report as much as for the writers here.

use crate::error::{Error, Result};
use crate::identity::{canonical, merged};
use crate::model::{Params, Status};
use crate::results::{csv_error, flatten, inert, result_of, segment, warn_about_result, Columns, Source};
use crate::values::display_value;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Write;

/// A statistic of one field over one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Mean,
    /// Sample standard deviation (n - 1); none under 2 values.
    Std,
    /// How many configs of the group have the field as a number.
    N,
    Min,
    Max,
    /// The middle value; the mean of the two middle ones for an even count.
    Median,
    /// Standard error of the mean, std / sqrt(n); none under 2 values.
    Sem,
}

impl Stat {
    pub const ALL: [Stat; 7] =
        [Stat::Mean, Stat::Std, Stat::N, Stat::Min, Stat::Max, Stat::Median, Stat::Sem];
    /// What `--over` computes unless `--stats` says otherwise.
    pub const DEFAULT: [Stat; 2] = [Stat::Mean, Stat::Std];
    /// Every stat's name, as `--stats` takes it.
    pub const NAMES: [&'static str; 7] = ["mean", "std", "n", "min", "max", "median", "sem"];

    pub fn name(self) -> &'static str {
        Stat::NAMES[Stat::ALL.iter().position(|&s| s == self).expect("in ALL")]
    }

    /// `--stats LIST` (given as its items): each a known stat, none twice.
    pub fn parse_list(items: &[String]) -> Result<Vec<Stat>> {
        let mut stats = Vec::new();
        for item in items {
            let stat =
                Stat::NAMES.iter().position(|name| name == item).map(|i| Stat::ALL[i]).ok_or_else(|| {
                    Error::usage(format!(
                        "--stats {item}: no such stat; the stats are {}",
                        Stat::NAMES.join(", ")
                    ))
                })?;
            if stats.contains(&stat) {
                return Err(Error::usage(format!("--stats: {item} is given twice")));
            }
            stats.push(stat);
        }
        if stats.is_empty() {
            return Err(Error::usage(format!("--stats: name one or more of {}", Stat::NAMES.join(", "))));
        }
        Ok(stats)
    }
}

/// The numbers one field took over one group, in the order of its configs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values(pub Vec<f64>);

impl Values {
    pub fn n(&self) -> usize {
        self.0.len()
    }

    /// The plain sum over n (what a reader computes by hand), or, when
    /// that sum overflows while the values are finite, the sum of each
    /// value over n.
    pub fn mean(&self) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        let n = self.0.len() as f64;
        let mean = self.0.iter().sum::<f64>() / n;
        match mean.is_finite() || !self.0.iter().all(|x| x.is_finite()) {
            true => Some(mean),
            false => Some(self.0.iter().map(|x| x / n).sum()),
        }
    }

    /// The sample standard deviation: the square root of the sum of squared
    /// deviations from the mean over n - 1.
    pub fn std(&self) -> Option<f64> {
        if self.0.len() < 2 {
            return None;
        }
        let mean = self.mean()?;
        let n1 = (self.0.len() - 1) as f64;
        let squares: f64 = self.0.iter().map(|x| (x - mean) * (x - mean)).sum();
        let std = (squares / n1).sqrt();
        if std.is_finite() || !mean.is_finite() {
            return Some(std);
        }
        // Deviations too large to square: scaled by the largest first.
        let scale = self.0.iter().map(|x| (x / 2.0 - mean / 2.0).abs()).fold(0.0, f64::max);
        let scaled: f64 = self.0.iter().map(|x| ((x / 2.0 - mean / 2.0) / scale).powi(2)).sum();
        Some(2.0 * scale * (scaled / n1).sqrt())
    }

    pub fn min(&self) -> Option<f64> {
        self.0.iter().copied().reduce(f64::min)
    }

    pub fn max(&self) -> Option<f64> {
        self.0.iter().copied().reduce(f64::max)
    }

    pub fn median(&self) -> Option<f64> {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let half = sorted.len() / 2;
        match sorted.len() {
            0 => None,
            len if len % 2 == 1 => Some(sorted[half]),
            _ => Some(match (sorted[half - 1] + sorted[half]) / 2.0 {
                middle if middle.is_finite() => middle,
                _ => sorted[half - 1] / 2.0 + sorted[half] / 2.0,
            }),
        }
    }

    pub fn sem(&self) -> Option<f64> {
        Some(self.std()? / (self.0.len() as f64).sqrt())
    }

    /// One stat; `N` as a number too.
    pub fn stat(&self, stat: Stat) -> Option<f64> {
        match stat {
            Stat::Mean => self.mean(),
            Stat::Std => self.std(),
            Stat::N => Some(self.n() as f64),
            Stat::Min => self.min(),
            Stat::Max => self.max(),
            Stat::Median => self.median(),
            Stat::Sem => self.sem(),
        }
    }
}

/// The done configs of one experiment that share every param but the K's.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Which source (experiment) it is of, an index into those given.
    pub source: usize,
    /// The params its configs share (merged over the defaults), without the K's.
    pub params: Params,
    /// Its configs' names, in the experiment's order; their count is `n`.
    pub names: Vec<String>,
    /// Each numeric result field (flattened with dots, as summary columns
    /// are) that some config of the group has as a number.
    pub fields: IndexMap<String, Values>,
}

impl Group {
    /// Done configs in the group.
    pub fn n(&self) -> usize {
        self.names.len()
    }

    /// Its params flattened with dots, as the summary's columns name them.
    pub fn flat_params(&self) -> Vec<(String, Value)> {
        let mut pairs = Vec::new();
        flatten("", &Value::Object(self.params.clone()), &mut pairs);
        pairs
    }

    /// The values of `field`, none when no config of the group has it.
    pub fn values(&self, field: &str) -> Values {
        self.fields.get(field).cloned().unwrap_or_default()
    }
}

/// The groups of one or more experiments, and every numeric field met.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grouping {
    pub groups: Vec<Group>,
    /// Every numeric result field, in the order first met.
    pub fields: Vec<String>,
}

/// One config as grouping sees it.
#[derive(Debug, Clone)]
pub struct Config<'a> {
    pub source: usize,
    pub name: &'a str,
    /// Merged over the defaults.
    pub params: Params,
    pub status: Status,
    pub result: Option<Value>,
}

/// `params` without the param each of `over` names (a dotted path names a
/// nested one; an object emptied by that goes too), marking in `found` each
/// K that named something.
pub fn without(params: &Params, over: &[String], found: &mut [bool]) -> Params {
    strip(params, "", over, found)
}

fn strip(map: &Params, prefix: &str, over: &[String], found: &mut [bool]) -> Params {
    let mut out = Map::new();
    for (key, value) in map {
        let segment = segment(key);
        let path = if prefix.is_empty() { segment } else { format!("{prefix}.{segment}") };
        let mut named = false;
        for (i, k) in over.iter().enumerate() {
            if *k == path {
                found[i] = true;
                named = true;
            }
        }
        if named {
            continue;
        }
        let inside = format!("{path}.");
        match value {
            Value::Object(inner) if !inner.is_empty() && over.iter().any(|k| k.starts_with(&inside)) => {
                let inner = strip(inner, &path, over, found);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            other => {
                out.insert(key.clone(), other.clone());
            }
        }
    }
    out
}

/// Group the done `configs` by their params without the K's of `over`.
/// Pure: the results are given. Every K must name a param of some config
/// (any status), else bad usage naming it.
pub fn group<'a>(configs: impl IntoIterator<Item = Config<'a>>, over: &[String]) -> Result<Grouping> {
    let mut found = vec![false; over.len()];
    let mut grouping = Grouping::default();
    let mut fields: IndexMap<String, ()> = IndexMap::new();
    let mut index: HashMap<(usize, String), usize> = HashMap::new();
    for config in configs {
        let params = without(&config.params, over, &mut found);
        if config.status != Status::Done {
            continue;
        }
        let key = (config.source, canonical(&Value::Object(params.clone())));
        let at = *index.entry(key).or_insert_with(|| {
            grouping.groups.push(Group {
                source: config.source,
                params,
                names: Vec::new(),
                fields: IndexMap::new(),
            });
            grouping.groups.len() - 1
        });
        let group = &mut grouping.groups[at];
        group.names.push(config.name.to_string());
        let mut flat = Vec::new();
        if let Some(result) = &config.result {
            flatten("", result, &mut flat);
        }
        for (field, value) in flat {
            let Some(number) = value.as_f64().filter(|_| value.is_number()) else { continue };
            group.fields.entry(field.clone()).or_default().0.push(number);
            fields.entry(field).or_insert(());
        }
    }
    if let Some(i) = found.iter().position(|found| !found) {
        return Err(Error::usage(format!("--over {}: no config has a param {}", over[i], over[i])));
    }
    grouping.fields = fields.into_keys().collect();
    Ok(grouping)
}

/// Read the configs of `sources` and group them (see [`group`]); `tick`
/// is called once per config read.
pub fn read(sources: &[Source], over: &[String], tick: &mut dyn FnMut()) -> Result<Grouping> {
    let mut configs = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        let experiment = source.experiment;
        for (name, entry) in &experiment.configs {
            tick();
            let config = entry.read()?;
            let result = match config.status {
                Status::Done => {
                    warn_about_result(name, &config);
                    result_of(source.store, name, config.status)
                }
                _ => None,
            };
            let params = merged(&experiment.defaults, &config.params);
            configs.push(Config { source: i, name, params, status: config.status, result });
        }
    }
    group(configs, over)
}

/// A number in its shortest round-trip form: the fewest digits that read
/// back as the same f64, written as JSON (and JavaScript) write a float,
/// with an exponent for the very small and the very large (`1e-7`,
/// `1.5e+300`), but no `.0` on an integral value (`2`). Not finite (an
/// overflow): `inf`, `-inf`, `NaN`.
pub fn format_number(x: f64) -> String {
    let Some(number) = serde_json::Number::from_f64(x) else { return x.to_string() };
    let text = number.to_string();
    match text.strip_suffix(".0") {
        Some(integral) => integral.to_string(),
        None => text,
    }
}

/// A stat as JSON: the number whose text is its CSV cell, null for none.
fn json_number(x: Option<f64>) -> Value {
    x.filter(|x| x.is_finite())
        .and_then(|x| serde_json::from_str::<Value>(&format_number(x)).ok())
        .unwrap_or(Value::Null)
}

/// The labels of `sources`: the `experiment` column, when any has one.
fn labels<'a>(sources: &[Source<'a>]) -> Option<Vec<&'a str>> {
    sources
        .iter()
        .any(|source| source.label.is_some())
        .then(|| sources.iter().map(|source| source.label.unwrap_or_default()).collect())
}

/// Write the groups as CSV (see the module's docs). `raw`: text cells as
/// they are, as `--raw` writes them in the summary.
pub fn write_csv(
    sources: &[Source],
    grouping: &Grouping,
    stats: &[Stat],
    raw: bool,
    out: impl Write,
) -> Result<()> {
    let cell = |text: String| if raw { text } else { inert(text) };
    let labels = labels(sources);
    let flat: Vec<Vec<(String, Value)>> = grouping.groups.iter().map(Group::flat_params).collect();
    let mut columns = Columns::reserved();
    let mut param_index: IndexMap<&str, usize> = IndexMap::new();
    for key in flat.iter().flatten().map(|(key, _)| key.as_str()) {
        if !param_index.contains_key(key) {
            param_index.insert(key, columns.add(key, "param"));
        }
    }
    let stat_columns: Vec<usize> = grouping
        .fields
        .iter()
        .flat_map(|field| stats.iter().map(move |stat| format!("{field}.{}", stat.name())))
        .map(|key| columns.add(&key, "result"))
        .collect();

    let mut writer = csv::Writer::from_writer(out);
    let mut header = Vec::new();
    if labels.is_some() {
        header.push("experiment".to_string());
    }
    header.extend(param_index.values().map(|&i| cell(columns.headers[i].clone())));
    header.push("n".to_string());
    header.extend(stat_columns.iter().map(|&i| cell(columns.headers[i].clone())));
    writer.write_record(&header).map_err(csv_error)?;
    for (group, pairs) in grouping.groups.iter().zip(&flat) {
        let mut record = Vec::with_capacity(header.len());
        if let Some(labels) = &labels {
            record.push(cell(labels[group.source].to_string()));
        }
        let mut params = vec![String::new(); param_index.len()];
        for (key, value) in pairs {
            params[param_index.get_index_of(key.as_str()).expect("indexed")] = cell(display_value(value));
        }
        record.append(&mut params);
        record.push(group.n().to_string());
        for field in &grouping.fields {
            let values = group.values(field);
            record.extend(stats.iter().map(|&stat| values.stat(stat).map(format_number).unwrap_or_default()));
        }
        writer.write_record(&record).map_err(csv_error)?;
    }
    writer.flush()?;
    Ok(())
}

/// Write the groups as JSON Lines (see the module's docs).
pub fn write_json(
    sources: &[Source],
    grouping: &Grouping,
    stats: &[Stat],
    mut out: impl Write,
) -> Result<()> {
    let labels = labels(sources);
    for group in &grouping.groups {
        let mut line = Map::new();
        if let Some(labels) = &labels {
            line.insert("experiment".into(), Value::from(labels[group.source]));
        }
        line.insert("params".into(), Value::Object(group.params.clone()));
        line.insert("n".into(), Value::from(group.n()));
        let mut fields = Map::new();
        for field in &grouping.fields {
            let values = group.values(field);
            let computed =
                stats.iter().map(|&stat| (stat.name().to_string(), json_number(values.stat(stat))));
            fields.insert(field.clone(), Value::Object(computed.collect()));
        }
        line.insert("stats".into(), Value::Object(fields));
        serde_json::to_writer(&mut out, &line).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(xs: &[f64]) -> Values {
        Values(xs.to_vec())
    }

    fn config(name: &str, params: Value, status: Status, result: Value) -> Config<'_> {
        let Value::Object(params) = params else { panic!("params are an object") };
        Config { source: 0, name, params, status, result: (!result.is_null()).then_some(result) }
    }

    fn over(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn stats_of_a_few_values() {
        let v = values(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(v.mean(), Some(5.0));
        let std = (32.0f64 / 7.0).sqrt();
        assert_eq!(v.std(), Some(std));
        assert_eq!(v.sem(), Some(std / 8f64.sqrt()));
        assert_eq!((v.min(), v.max()), (Some(2.0), Some(9.0)));
        assert_eq!(v.median(), Some(4.5), "the mean of the two middle values");
        assert_eq!(values(&[3.0, 1.0, 2.0]).median(), Some(2.0));
        assert_eq!(v.stat(Stat::N), Some(8.0));
    }

    #[test]
    fn std_and_sem_need_two_values_and_nothing_comes_of_none() {
        let one = values(&[0.5]);
        assert_eq!((one.mean(), one.std(), one.sem(), one.median()), (Some(0.5), None, None, Some(0.5)));
        let none = values(&[]);
        for stat in Stat::ALL {
            let expected = if stat == Stat::N { Some(0.0) } else { None };
            assert_eq!(none.stat(stat), expected, "{stat:?}");
        }
        assert_eq!(values(&[1.0, 1.0]).std(), Some(0.0));
    }

    #[test]
    fn huge_values_whose_sum_overflows_still_have_a_mean_and_a_spread() {
        let big = values(&[1e308, 1e308, -1e308]);
        let mean = big.mean().unwrap();
        assert!((mean - 1e308 / 3.0).abs() < 1e294, "{mean}");
        // Deviations 2/3, 2/3 and -4/3 of 1e308: std = 1e308 * sqrt(4/3).
        let std = big.std().unwrap();
        assert!((std / 1e308 - (4.0f64 / 3.0).sqrt()).abs() < 1e-12, "{std}");
        assert_eq!(values(&[1e308, 1.5e308]).median(), Some(1.25e308));
        assert_eq!(values(&[0.1, 0.2]).mean(), Some((0.1 + 0.2) / 2.0), "the plain sum when it fits");
    }

    #[test]
    fn numbers_are_printed_in_their_shortest_round_trip_form() {
        for (x, text) in [
            (2.0, "2"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-7, "1e-7"),
            (1.5e300, "1.5e+300"),
            (-0.25, "-0.25"),
            (123456.0, "123456"),
            (1e20, "1e+20"),
            (f64::INFINITY, "inf"),
        ] {
            assert_eq!(format_number(x), text);
            if x.is_finite() {
                assert_eq!(format_number(x).parse::<f64>().unwrap(), x, "round trip of {x}");
            }
        }
        assert_eq!(json_number(Some(2.0)), json!(2));
        assert_eq!(json_number(Some(0.5)), json!(0.5));
        assert_eq!(json_number(Some(f64::INFINITY)), Value::Null);
    }

    #[test]
    fn stats_are_parsed_in_the_order_given_and_bad_ones_refused() {
        let items = over(&["median", "n", "mean"]);
        assert_eq!(Stat::parse_list(&items).unwrap(), [Stat::Median, Stat::N, Stat::Mean]);
        let err = Stat::parse_list(&over(&["mean", "variance"])).unwrap_err();
        assert!(err.message.contains("variance") && err.message.contains("median"), "{}", err.message);
        assert!(Stat::parse_list(&over(&["std", "std"])).is_err());
        assert!(Stat::parse_list(&[]).is_err());
    }

    #[test]
    fn done_configs_are_grouped_by_every_param_but_the_ks_in_first_seen_order() {
        let configs = vec![
            config("a0", json!({"lr": 0.1, "seed": 0}), Status::Done, json!({"loss": 1, "tag": "x"})),
            config("b0", json!({"lr": 0.2, "seed": 0}), Status::Done, json!({"loss": 4})),
            config(
                "a1",
                json!({"seed": 1, "lr": 0.1}),
                Status::Done,
                json!({"loss": 2, "acc": {"top1": 0.5}}),
            ),
            config("a2", json!({"lr": 0.1, "seed": 2}), Status::Failed, json!({"loss": 100})),
            config("b1", json!({"lr": 0.2, "seed": 1}), Status::Todo, Value::Null),
            config("a3", json!({"lr": 0.1, "seed": 3}), Status::Done, json!({"loss": "nan?", "ok": true})),
        ];
        let grouping = group(configs, &over(&["seed"])).unwrap();
        assert_eq!(grouping.fields, ["loss", "acc.top1"], "numbers only, in the order first met");
        assert_eq!(grouping.groups.len(), 2);
        let a = &grouping.groups[0];
        assert_eq!(Value::Object(a.params.clone()), json!({"lr": 0.1}));
        assert_eq!(a.names, ["a0", "a1", "a3"]);
        assert_eq!(a.values("loss"), values(&[1.0, 2.0]), "over the configs that have it as a number");
        assert_eq!(a.values("acc.top1"), values(&[0.5]));
        let b = &grouping.groups[1];
        assert_eq!((b.n(), b.values("loss"), b.values("acc.top1")), (1, values(&[4.0]), values(&[])));
    }

    #[test]
    fn a_k_may_name_a_nested_param_or_a_whole_object_and_must_name_something() {
        let params = |v: Value| match v {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let p = params(json!({"model": {"seed": 1, "depth": 2}, "run": {"seed": 3}, "a.b": 4}));
        let mut found = vec![false; 3];
        let kept = without(&p, &over(&["model.seed", "run", "\"a.b\""]), &mut found);
        assert_eq!(Value::Object(kept), json!({"model": {"depth": 2}}));
        assert_eq!(found, [true, true, true]);
        let mut found = vec![false];
        let kept = without(&params(json!({"m": {"seed": 1}})), &over(&["m.seed"]), &mut found);
        assert_eq!(Value::Object(kept), json!({}), "an object emptied goes too");

        let configs = vec![config("a", json!({"lr": 1}), Status::Todo, Value::Null)];
        assert_eq!(
            group(configs.clone(), &over(&["lr"])).unwrap().groups,
            [],
            "a todo config's param counts"
        );
        let err = group(configs, &over(&["lr", "sead"])).unwrap_err();
        assert_eq!(err.kind, crate::Kind::Usage);
        assert!(err.message.contains("sead"), "{}", err.message);
    }

    #[test]
    fn numbers_equal_by_value_are_one_group_and_experiments_never_share_one() {
        let mut configs = vec![
            config("a", json!({"lr": 1, "seed": 0}), Status::Done, json!({"loss": 1})),
            config("b", json!({"lr": 1.0, "seed": 1}), Status::Done, json!({"loss": 3})),
            config("c", json!({"lr": 1, "seed": 0}), Status::Done, json!({"loss": 5})),
        ];
        configs[2].source = 1;
        let grouping = group(configs, &over(&["seed"])).unwrap();
        let seen: Vec<(usize, Vec<String>)> =
            grouping.groups.iter().map(|g| (g.source, g.names.clone())).collect();
        assert_eq!(seen, [(0, vec!["a".to_string(), "b".to_string()]), (1, vec!["c".to_string()])]);
    }
}
