//! The failures section: the failed configs grouped as `exp-status
//! --failures` groups them, each group with its telling params, an error
//! verbatim, its names and the command that retries it.

use super::data::Source;
use super::escape;
use crate::error::Result;
use crate::failures::{groups_among, retry_command};
use crate::report::first_few;
use std::fmt::Write as _;

/// How many names a group lists before "and N more".
const NAMES: usize = 10;

pub fn section(page: &mut String, sources: &[Source]) -> Result<()> {
    let mut rows = String::new();
    for source in sources {
        let groups = groups_among(&source.experiment.defaults, source.experiment.configs.iter())?;
        for (index, group) in groups.iter().enumerate() {
            let number = index + 1;
            let experiment = match sources.len() {
                1 => String::new(),
                _ => format!("<td>{}</td>", escape(&source.label)),
            };
            let example = match group.example == group.signature {
                true => String::new(),
                false => format!("<div class=\"note\">e.g. {}</div>", escape(&group.example)),
            };
            let _ = writeln!(
                rows,
                "<tr>{experiment}<td class=\"number\">{number}</td><td class=\"number\">{}</td>\
                 <td><code>{}</code>{example}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                group.names.len(),
                escape(&group.signature),
                escape(&group.telling()),
                escape(&first_few(group.names.iter().cloned(), NAMES)),
                escape(&retry_command(&source.label, number)),
            );
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let experiment = if sources.len() > 1 { "<th>experiment</th>" } else { "" };
    let _ = write!(
        page,
        "<section id=\"failures\">\n<h2>Failures</h2>\n<div class=\"scroll\"><table class=\"failures\">\n\
         <thead><tr>{experiment}<th>group</th><th>configs</th><th>error</th><th>telling params</th>\
         <th>names</th><th>retry</th></tr></thead>\n<tbody>\n{rows}</tbody>\n</table></div>\n</section>\n"
    );
    Ok(())
}
