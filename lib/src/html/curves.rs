//! The learning curves: each numeric field of the configs' `metrics.jsonl`
//! (their latest attempts) against `step` (or `epoch`, ...), or against
//! the line's number when the lines count no steps.

use super::data::Source;
use super::plots::{lines, Series};
use super::{escape, even_sample, CURVES, CURVE_POINTS};
use crate::error::Result;
use crate::metrics::{curve, Metrics};
use crate::model::Status;
use crate::results::flatten;
use indexmap::IndexMap;
use std::fmt::Write as _;

/// The fields that count steps, in the order looked for: the first that
/// every line has as a number is the x axis, else the line's number.
const STEPS: &[&str] = &["step", "epoch", "iteration", "iter", "global_step"];

/// One config's curve, as read.
struct Read {
    label: String,
    lines: Vec<Metrics>,
}

/// The curves section, when any config wrote metrics.
pub fn section(page: &mut String, sources: &[Source], tick: &mut dyn FnMut()) -> Result<()> {
    let mut read = Vec::new();
    for source in sources {
        for (name, entry) in &source.experiment.configs {
            tick();
            // A todo config's folder holds an earlier attempt's curve, if
            // any, not its own; its status costs no parse.
            if entry.status() == Status::Todo {
                continue;
            }
            let path = source.store.config_files(name).metrics();
            if std::fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let Some(lines) = curve(&path).filter(|lines| !lines.is_empty()) else { continue };
            let label = match sources.len() {
                1 => name.clone(),
                _ => format!("{}: {name}", source.label),
            };
            read.push(Read { label, lines });
        }
    }
    if read.is_empty() {
        return Ok(());
    }
    let total = read.len();
    let shown = even_sample(read, CURVES);

    // Each numeric field, flattened, in first-seen order: its series.
    let mut fields: IndexMap<String, Vec<Series>> = IndexMap::new();
    let step = STEPS.iter().copied().find(|key| {
        shown
            .iter()
            .all(|config| config.lines.iter().all(|line| line.get(*key).is_some_and(|s| s.is_number())))
    });
    for config in &shown {
        let mut by_field: IndexMap<String, Vec<(f64, f64)>> = IndexMap::new();
        for (index, line) in config.lines.iter().enumerate() {
            let x = match step {
                Some(key) => line[key].as_f64().unwrap_or(f64::NAN),
                None => (index + 1) as f64,
            };
            let mut flat = Vec::new();
            flatten("", &serde_json::Value::Object(line.clone()), &mut flat);
            for (key, value) in flat {
                if let (Some(y), true) = (value.as_f64(), Some(key.as_str()) != step) {
                    by_field.entry(key).or_default().push((x, y));
                }
            }
        }
        for (field, points) in by_field {
            let points = even_sample(points, CURVE_POINTS);
            fields.entry(field).or_default().push(Series { label: config.label.clone(), points });
        }
    }
    let x_label = step.unwrap_or("line");
    let mut figures = String::new();
    // A field that never changes within a curve (a fixed lr) is no curve.
    let flat = |series: &Vec<Series>| series.iter().all(|s| s.points.windows(2).all(|w| w[0].1 == w[1].1));
    for (field, series) in fields.iter().filter(|(_, series)| !flat(series)) {
        let svg = lines(x_label, field, series);
        let mut caption = format!("{} against {x_label}: ", escape(field));
        match shown.len() < total {
            true => {
                let _ =
                    write!(caption, "an even sample of {} of the {total} configs with metrics", shown.len());
            }
            false => {
                let _ = write!(caption, "{} config(s)", series.len());
            }
        }
        let _ = write!(
            figures,
            "<figure class=\"plot curve\" data-metric=\"{}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n",
            escape(field)
        );
    }
    let _ = write!(page, "<section id=\"curves\">\n<h2>Learning curves</h2>\n<div class=\"plots\">\n{figures}</div>\n</section>\n");
    Ok(())
}
