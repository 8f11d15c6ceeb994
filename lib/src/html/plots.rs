//! The page's pictures: each numeric result field against each param that
//! varies (with `--over`, each group's mean and spread), drawn as SVG by
//! plotters.

use super::data::{Kind, Table};
use super::{escape, even_sample, PLOT_POINTS};
use crate::aggregate::{Group, Grouping};
use crate::model::Status;
use crate::values::display_value;
use indexmap::IndexMap;
use plotters::coord::ranged1d::AsRangedCoord;
use plotters::prelude::*;
use serde_json::Value;
use std::fmt::Write as _;

const SIZE: (u32, u32) = (440, 300);
/// A categorical axis with more values than this is no picture.
const MAX_CATEGORIES: usize = 40;
const POINT: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
/// More curves than this get no legend: it would hide them.
const LEGEND: usize = 10;

/// One line of a line chart: a config's curve.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// What a chart draws in its frame.
enum Marks<'a> {
    Points(&'a [(f64, f64)]),
    Lines(&'a [Series]),
    /// A group's mean, and its standard deviation (0 when unknown).
    Spread(&'a [(f64, f64, f64)]),
}

impl Marks<'_> {
    fn ys(&self) -> Vec<f64> {
        match self {
            Marks::Points(points) => points.iter().map(|p| p.1).collect(),
            Marks::Lines(series) => series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect(),
            Marks::Spread(points) => points.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]).collect(),
        }
    }
}

/// How a param's values lie along the x axis.
enum Axis {
    Linear(f64, f64),
    /// Positive values spanning two decades or more.
    Log(f64, f64),
    /// Values that are not all numbers, in first-seen order.
    Categories(Vec<String>),
}

/// The plots section: one figure per numeric result and varying param;
/// with `--over` (`grouping`), the groups' means and spreads instead.
pub fn section(page: &mut String, table: &Table, grouping: Option<(&Grouping, &[String])>) {
    let figures = match grouping {
        Some((grouping, over)) => spread_figures(grouping, over),
        None => point_figures(table),
    };
    if figures.is_empty() {
        return;
    }
    let _ = write!(
        page,
        "<section id=\"plots\">\n<h2>Results against params</h2>\n<div class=\"plots\">\n{figures}</div>\n</section>\n"
    );
}

/// A figure of `svg` with its caption.
fn figure(result: &str, param: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure class=\"plot\" data-result=\"{}\" data-param=\"{}\">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>\n",
        escape(result),
        escape(param)
    )
}

/// Each group's mean and standard deviation of each numeric field against
/// each param that varies between groups.
fn spread_figures(grouping: &Grouping, over: &[String]) -> String {
    let flat: Vec<Vec<(String, Value)>> = grouping.groups.iter().map(Group::flat_params).collect();
    let mut keys: IndexMap<&str, ()> = IndexMap::new();
    for (key, _) in flat.iter().flatten() {
        keys.entry(key.as_str()).or_insert(());
    }
    let over = over.join(", ");
    let mut figures = String::new();
    for field in &grouping.fields {
        for key in keys.keys() {
            let mut values = Vec::new();
            let mut stats = Vec::new();
            for (group, pairs) in grouping.groups.iter().zip(&flat) {
                let (Some((_, x)), Some(mean)) =
                    (pairs.iter().find(|(k, _)| k == key), group.values(field).mean())
                else {
                    continue;
                };
                values.push(x);
                stats.push((mean, group.values(field).std().unwrap_or(0.0)));
            }
            if values.len() < 2 {
                continue;
            }
            let Some(axis) = axis(values.iter().copied()) else { continue };
            let points: Vec<(f64, f64, f64)> =
                values.iter().zip(&stats).map(|(x, (mean, std))| (position(&axis, x), *mean, *std)).collect();
            let svg = chart(&axis, key, field, Marks::Spread(&points));
            let mut caption = format!("{} against {}", escape(field), escape(key));
            if matches!(axis, Axis::Log(..)) {
                caption.push_str(" (log axis)");
            }
            let _ = write!(caption, ": mean ± std over {}, {} groups", escape(&over), points.len());
            figures.push_str(&figure(field, key, &svg, &caption));
        }
    }
    figures
}

/// Each done config's numeric result fields against each param that varies.
fn point_figures(table: &Table) -> String {
    let done: Vec<&Vec<Value>> =
        table.rows.iter().zip(&table.statuses).filter(|(_, s)| **s == Status::Done).map(|(r, _)| r).collect();
    let mut figures = String::new();
    for (y, result) in table.columns_of(Kind::Result) {
        let rows: Vec<&&Vec<Value>> = done.iter().filter(|row| !row[y].is_null()).collect();
        if rows.len() < 2
            || !rows.iter().all(|row| row[y].is_number())
            || rows.iter().all(|row| row[y] == rows[0][y])
        {
            continue;
        }
        for (x, param) in table.columns_of(Kind::Param) {
            let pairs: Vec<(&Value, f64)> = rows
                .iter()
                .filter(|row| !row[x].is_null())
                .filter_map(|row| Some((&row[x], row[y].as_f64()?)))
                .collect();
            let Some(axis) = axis(pairs.iter().map(|(x, _)| *x)) else { continue };
            let sample = even_sample(pairs.clone(), PLOT_POINTS);
            let points: Vec<(f64, f64)> = sample.iter().map(|(x, y)| (position(&axis, x), *y)).collect();
            let svg = scatter(&axis, &param.header, &result.header, &points);
            let mut caption = format!("{} against {}", escape(&result.header), escape(&param.header));
            if matches!(axis, Axis::Log(..)) {
                caption.push_str(" (log axis)");
            }
            if sample.len() < pairs.len() {
                let _ = write!(caption, ": an even sample of {} of {} configs", sample.len(), pairs.len());
            } else {
                let _ = write!(caption, ": {} configs", pairs.len());
            }
            figures.push_str(&figure(&result.header, &param.header, &svg, &caption));
        }
    }
    figures
}

/// The axis for a param's values, or None when it does not vary (or has
/// too many values that are not numbers to draw).
fn axis<'a>(values: impl Iterator<Item = &'a Value> + Clone) -> Option<Axis> {
    if values.clone().all(Value::is_number) {
        let numbers = values.filter_map(Value::as_f64);
        let (low, high) = extent(numbers);
        return match low < high {
            false => None,
            true if low > 0.0 && high / low >= 100.0 => Some(Axis::Log(low, high)),
            true => Some(Axis::Linear(low, high)),
        };
    }
    let mut categories: Vec<String> = Vec::new();
    for value in values {
        let text = display_value(value);
        if !categories.contains(&text) {
            if categories.len() == MAX_CATEGORIES {
                return None;
            }
            categories.push(text);
        }
    }
    (categories.len() > 1).then_some(Axis::Categories(categories))
}

/// Where a value lies on the axis.
fn position(axis: &Axis, value: &Value) -> f64 {
    match axis {
        Axis::Categories(categories) => {
            let text = display_value(value);
            categories.iter().position(|c| *c == text).unwrap_or(0) as f64
        }
        Axis::Linear(..) | Axis::Log(..) => value.as_f64().unwrap_or(f64::NAN),
    }
}

/// The lowest and the highest of `values` (infinities when there is none).
fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| (low.min(v), high.max(v)))
}

/// A little room around the values, and some even when they are equal.
fn padded(low: f64, high: f64) -> (f64, f64) {
    let pad = if high > low { (high - low) * 0.05 } else { low.abs().max(1.0) * 0.1 };
    (low - pad, high + pad)
}

fn scatter(axis: &Axis, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    chart(axis, x_label, y_label, Marks::Points(points))
}

/// A line chart of `series` (x along a linear axis), with a legend when
/// there are few.
pub fn lines(x_label: &str, y_label: &str, series: &[Series]) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (low, high) = extent(xs);
    chart(&Axis::Linear(low, high), x_label, y_label, Marks::Lines(series))
}

fn chart(axis: &Axis, x_label: &str, y_label: &str, marks: Marks) -> String {
    let ys = marks.ys();
    let (low, high) = extent(ys.iter().copied());
    let y = padded(low, high);
    let y = y.0..y.1;
    match axis {
        Axis::Linear(low, high) => {
            let (low, high) = padded(*low, *high);
            draw(low..high, y, x_label, y_label, &marks, None)
        }
        Axis::Log(low, high) => draw((low / 1.5..high * 1.5).log_scale(), y, x_label, y_label, &marks, None),
        Axis::Categories(categories) => {
            let count = categories.len() as f64;
            draw(-0.5..count - 0.5, y, x_label, y_label, &marks, Some(categories))
        }
    }
}

/// Marks in a frame with labelled axes; categories, when given, label the
/// whole numbers of x.
fn draw<X>(
    x: X,
    y: std::ops::Range<f64>,
    x_label: &str,
    y_label: &str,
    marks: &Marks,
    categories: Option<&[String]>,
) -> String
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y)?;
        let label = |value: &f64| match categories {
            Some(names) if (value - value.round()).abs() < 1e-9 && *value >= 0.0 => {
                names.get(*value as usize).map(|name| shorten(name)).unwrap_or_default()
            }
            Some(_) => String::new(),
            None => format_number(*value),
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&label)
            .y_label_formatter(&|v| format_number(*v));
        if let Some(names) = categories {
            mesh.x_labels(names.len() + 1).disable_x_mesh();
        }
        mesh.draw()?;
        match marks {
            Marks::Points(points) => {
                chart.draw_series(
                    points.iter().map(|&(x, y)| Circle::new((x, y), 2, POINT.mix(0.7).filled())),
                )?;
            }
            Marks::Spread(points) => {
                let style = POINT.stroke_width(1);
                chart.draw_series(points.iter().map(|&(x, mean, std)| {
                    ErrorBar::new_vertical(x, mean - std, mean, mean + std, style, 6)
                }))?;
                chart.draw_series(
                    points.iter().map(|&(x, mean, _)| Circle::new((x, mean), 3, POINT.filled())),
                )?;
            }
            Marks::Lines(series) => {
                for (index, one) in series.iter().enumerate() {
                    let color = Palette99::pick(index).mix(0.8);
                    let drawn = chart
                        .draw_series(LineSeries::new(one.points.iter().copied(), color.stroke_width(1)))?;
                    if series.len() <= LEGEND {
                        drawn.label(shorten(&one.label)).legend(move |(x, y)| {
                            PathElement::new([(x, y), (x + 14, y)], color.stroke_width(2))
                        });
                    }
                }
                if series.len() <= LEGEND {
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK.mix(0.2))
                        .position(SeriesLabelPosition::UpperRight)
                        .draw()?;
                }
            }
        }
        root.present()?;
        Ok(())
    })();
    match drawn {
        // Inline in HTML an SVG needs no namespace: the page names no URL.
        Ok(()) => svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1),
        Err(err) => {
            format!("<p class=\"warning\">this plot could not be drawn: {}</p>", escape(&err.to_string()))
        }
    }
}

/// A tick label: short, and never 0.30000000000000004.
fn format_number(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs();
    if !(1e-3..1e5).contains(&magnitude) {
        return format!("{value:.1e}");
    }
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(16) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_wide_positive_param_gets_a_log_axis() {
        let values = [json!(0.0001), json!(0.01), json!(0.1)];
        assert!(matches!(axis(values.iter()), Some(Axis::Log(..))));
        let values = [json!(1), json!(50)];
        assert!(matches!(axis(values.iter()), Some(Axis::Linear(..))));
        let values = [json!(-1), json!(500)];
        assert!(matches!(axis(values.iter()), Some(Axis::Linear(..))));
        let values = [json!(3), json!(3)];
        assert!(axis(values.iter()).is_none());
        let values = [json!("adam"), json!("sgd"), json!(1)];
        assert!(matches!(axis(values.iter()), Some(Axis::Categories(c)) if c == ["adam", "sgd", "1"]));
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(format_number(0.30000000000000004), "0.3");
        assert_eq!(format_number(1e-5), "1.0e-5");
        assert_eq!(format_number(12.0), "12");
    }

    #[test]
    fn labels_with_markup_stay_text() {
        let svg = draw(0.0..1.0, 0.0..1.0, "<x>", "a&b", &Marks::Points(&[(0.5, 0.5)]), None);
        assert!(!svg.contains("<x>") && !svg.contains("a&b"), "{svg}");
    }
}
