//! `exp-summary --html FILE`: one self-contained page that shows an
//! experiment (or several): its header and counts, the results table
//! (sortable in the page), plots of each numeric result against each param
//! that varies, learning curves and the failure groups. Nothing on the page
//! comes from the network: styles, script and SVG pictures are inline.

mod curves;
mod data;
mod failures;
mod plots;

pub use data::Source;

use crate::error::Result;
use data::Table;
use std::fmt::Write as _;

/// The table shows at most this many rows (by the sort chosen in the page)
/// and says so; every row is in the page's data, so a sort sees them all.
pub const TABLE_ROWS: usize = 10_000;

/// A plot draws at most this many points, an evenly spaced sample of the
/// configs that its caption states.
pub const PLOT_POINTS: usize = 2_000;

/// The curves section draws at most this many configs' curves (an even
/// sample, stated), each of at most [`CURVE_POINTS`] points.
pub const CURVES: usize = 50;
pub const CURVE_POINTS: usize = 500;

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// The page for `sources`; with `over` (`--over`), the plots show each
/// group's mean and spread. `tick` is called once per config read.
pub fn render(sources: &[Source], over: &[String], tick: &mut dyn FnMut()) -> Result<String> {
    let (table, grouping) = Table::read(sources, over, tick)?;
    let mut page = String::with_capacity(1 << 16);
    let title = match sources {
        [one] => one.title(),
        many => format!("{} experiments", many.len()),
    };
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    header(&mut page, sources);
    results_table(&mut page, &table);
    plots::section(&mut page, &table, grouping.as_ref().map(|grouping| (grouping, over)));
    curves::section(&mut page, sources, tick)?;
    failures::section(&mut page, sources)?;
    let _ = write!(
        page,
        "<script type=\"application/json\" id=\"exp-data\">{}</script>\n<script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        table.data_json()
    );
    Ok(page)
}

/// Each experiment's name, description and counts.
fn header(page: &mut String, sources: &[Source]) {
    for source in sources {
        let counts = source.counts();
        let _ = write!(page, "<header class=\"experiment\">\n<h1>{}</h1>\n", escape(&source.title()));
        if let Some(description) = source.experiment.description.as_deref().filter(|d| !d.trim().is_empty()) {
            let _ = writeln!(page, "<p class=\"description\">{}</p>", escape(description));
        }
        let _ = write!(page, "<p class=\"counts\"><span class=\"total\">{} configs</span>", counts.total);
        for (label, count) in [
            ("done", counts.done),
            ("failed", counts.failed),
            ("running", counts.running),
            ("todo", counts.todo),
        ] {
            let _ = write!(page, " <span class=\"status-{label}\">{count} {label}</span>");
        }
        let _ = write!(page, "</p>\n<p class=\"dir\">{}</p>\n</header>\n", escape(&source.label));
    }
}

/// The table's frame: its header cells; the page's script fills the rows
/// from the data and sorts them.
fn results_table(page: &mut String, table: &Table) {
    page.push_str("<section id=\"results-section\">\n<h2>Results</h2>\n<p id=\"results-note\"></p>\n");
    page.push_str("<div class=\"scroll\"><table id=\"results\">\n<thead><tr>");
    for (index, column) in table.columns.iter().enumerate() {
        let _ = write!(
            page,
            "<th data-column=\"{index}\" class=\"{}\" aria-sort=\"none\" title=\"sort by {}\">{}</th>",
            column.kind.class(),
            escape(&column.header),
            escape(&column.header)
        );
    }
    page.push_str("</tr></thead>\n<tbody></tbody>\n</table></div>\n</section>\n");
}

/// At most `limit` items, evenly spaced, the first and the last always
/// among them: a big experiment's picture stays small and keeps its shape.
fn even_sample<T>(items: Vec<T>, limit: usize) -> Vec<T> {
    let count = items.len();
    if count <= limit {
        return items;
    }
    let mut keep = (0..limit).map(|i| i * (count - 1) / (limit - 1).max(1)).peekable();
    let mut kept = Vec::with_capacity(limit);
    for (index, item) in items.into_iter().enumerate() {
        if keep.peek() == Some(&index) {
            kept.push(item);
            while keep.peek() == Some(&index) {
                keep.next();
            }
        }
    }
    kept
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_even_bounded_and_keeps_both_ends() {
        assert_eq!(even_sample((0..1000).collect(), 5), [0, 249, 499, 749, 999]);
        assert_eq!(even_sample(vec![1, 2], 5), [1, 2]);
        assert_eq!(even_sample((0..20_000).collect(), PLOT_POINTS).len(), PLOT_POINTS);
    }

    #[test]
    fn markup_in_text_is_shown_not_run() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
