//! Here-documents in the shell lexer: the delimiter after `<<`, and the
//! body that starts at the next newline, where no placeholder may stand.

use super::{blank, operator, Heredoc, Item, Lexer, Refusal};

impl Lexer<'_> {
    /// After `<<`: the delimiter word, whose body starts at the next newline.
    pub(super) fn heredoc(&mut self) {
        let start = self.at - 2;
        let strip_tabs = self.char_at(self.at) == Some('-');
        if strip_tabs {
            self.at += 1;
        }
        while self.char_at(self.at).is_some_and(blank) {
            self.at += 1;
        }
        let (mut delimiter, mut quoted) = (String::new(), false);
        loop {
            match self.item(self.at) {
                None => break,
                Some(Item::Char(c)) if blank(c) || c == '\n' || operator(c) => break,
                Some(Item::Hole(hole)) => {
                    self.hole(hole, Err(Refusal::Inside("in a here-document's delimiter")));
                    self.doubt(start, "a here-document whose delimiter is a placeholder");
                    self.at += 1;
                }
                Some(Item::Char(quote @ ('\'' | '"'))) => {
                    quoted = true;
                    self.at += 1;
                    loop {
                        match self.item(self.at) {
                            None => return self.doubt(start, "an unterminated here-document delimiter"),
                            Some(Item::Char(c)) if c == quote => break,
                            Some(Item::Char(c @ ('\\' | '$' | '`'))) if quote == '"' => {
                                self.doubt(start, format!("a {c} in a here-document's delimiter"));
                                delimiter.push(c);
                            }
                            Some(Item::Char(c)) => delimiter.push(c),
                            Some(Item::Hole(hole)) => {
                                self.hole(hole, Err(Refusal::Inside("in a here-document's delimiter")));
                                self.doubt(start, "a here-document whose delimiter is a placeholder");
                            }
                        }
                        self.at += 1;
                    }
                    self.at += 1;
                }
                Some(Item::Char('\\')) => {
                    quoted = true;
                    self.at += 1;
                    match self.item(self.at) {
                        Some(Item::Char(c)) if c != '\n' => {
                            delimiter.push(c);
                            self.at += 1;
                        }
                        _ => self.doubt(start, "a here-document delimiter exp cannot read"),
                    }
                }
                Some(Item::Char(c @ ('$' | '`'))) => {
                    self.doubt(start, format!("a {c} in a here-document's delimiter"));
                    delimiter.push(c);
                    self.at += 1;
                }
                Some(Item::Char(c)) => {
                    delimiter.push(c);
                    self.at += 1;
                }
            }
        }
        if delimiter.is_empty() {
            self.doubt(start, "a here-document with no delimiter");
        }
        self.heredocs.push(Heredoc { delimiter, strip_tabs, quoted, start });
    }

    /// After a newline: the bodies of the here-documents of the line before.
    pub(super) fn heredoc_bodies(&mut self) {
        for heredoc in std::mem::take(&mut self.heredocs) {
            loop {
                if self.at >= self.items.len() {
                    self.doubt(heredoc.start, "a here-document that does not end");
                    break;
                }
                let line_start = self.at;
                let (mut line, mut whole) = (String::new(), true);
                while let Some(item) = self.item(self.at) {
                    match item {
                        Item::Char('\n') => break,
                        Item::Char(c) => line.push(c),
                        Item::Hole(hole) => {
                            self.hole(hole, Err(Refusal::Inside("in a here-document")));
                            whole = false;
                        }
                    }
                    self.at += 1;
                }
                self.at += 1; // the newline
                let text = if heredoc.strip_tabs { line.trim_start_matches('\t') } else { &line };
                if whole && text == heredoc.delimiter {
                    break;
                }
                if !heredoc.quoted && (line.contains("$(") || line.contains('`') || line.ends_with('\\')) {
                    // Where such a body ends may differ between shells.
                    self.doubt(line_start, "a substitution or line continuation in a here-document");
                }
            }
        }
    }
}
