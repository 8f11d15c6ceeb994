//! Shell templates: where each placeholder stands in sh's terms, and how a
//! value is quoted there so that it reaches the command as data, byte for
//! byte, never as code.
//!
//! A small lexer walks the template as sh (dash or bash) would read it:
//! unquoted words, `"..."`, `'...'`, backslashes, `$(...)`, backquotes,
//! `${...}`, `$((...))`, here-documents and comments. A placeholder may
//! stand bare, inside `"..."` or inside `'...'`; anywhere else (inside a
//! substitution, a here-document or a comment, right after a backslash or
//! a `$`) it is refused, since no quoting is right there. Where the lexer
//! cannot be sure how both shells read the text (a `case` inside `$(...)`,
//! a line continuation glued to a word, an unterminated quote), every
//! placeholder after that point is refused too: a refusal costs the user
//! one edit, a wrong guess would run their data.

mod heredoc;

/// What the lexer reads: the template's literal characters, and its
/// placeholders by their order in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Char(char),
    Hole(usize),
}

/// Where a placeholder stands, when exp can quote its value there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spot {
    /// An unquoted word. `plain` when the value may go in unquoted if it
    /// is made of harmless characters (not right after `$name` or a `~`,
    /// and no `IFS` or `[[` anywhere in the template).
    Bare { plain: bool },
    /// Inside `"..."`; `plain` as above (not right after `$name`).
    Double { plain: bool },
    /// Inside `'...'`.
    Single,
}

/// Why a placeholder is refused: where it stands, or what came before it
/// that exp cannot read for sure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Inside(&'static str),
    /// Right after a backslash, which would escape the quote exp adds.
    AfterBackslash,
    /// Right after a `$`, which would make the quote exp adds bash's `$'...'`.
    AfterDollar,
    After(String),
}

impl Spot {
    /// `value` quoted for this spot: it arrives as one piece of data.
    pub fn quote(self, value: &str) -> String {
        let plain = match self {
            Spot::Bare { plain } => plain && !RESERVED.contains(&value),
            Spot::Double { plain } => plain,
            Spot::Single => false,
        };
        if plain && !value.is_empty() && value.bytes().all(harmless) {
            return value.to_string();
        }
        let inner = value.replace('\'', r"'\''");
        match self {
            Spot::Bare { .. } => format!("'{inner}'"),
            // Close the double quote, give the value single-quoted, reopen.
            Spot::Double { .. } => format!("\"'{inner}'\""),
            Spot::Single => inner,
        }
    }
}

/// Bytes that mean nothing to sh in an unquoted word or inside `"..."`
/// (no `=`, which could make a word an assignment, nor `,`, which brace
/// expansion splits on).
fn harmless(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._/:+@%-".contains(&b)
}

/// Words that sh reads as syntax at the start of a command.
const RESERVED: [&str; 19] = [
    "if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until", "do", "done",
    "in", "function", "time", "coproc", "{", "}",
];

/// Where each placeholder of `items` stands (indexed by placeholder).
pub fn spots(items: &[Item]) -> Vec<Result<Spot, Refusal>> {
    let holes = items.iter().filter(|item| matches!(item, Item::Hole(_))).count();
    let text: String =
        items.iter().filter_map(|item| if let Item::Char(c) = item { Some(*c) } else { None }).collect();
    let mut lexer = Lexer {
        items,
        at: 0,
        found: vec![None; holes],
        doubt: None,
        heredocs: Vec::new(),
        after_name: None,
        evaluated: Vec::new(),
        // Field splitting on a changed IFS, and `=~` in `[[ ]]`, treat an
        // unquoted value differently from a quoted one.
        plain_bare: !text.contains("IFS") && !text.contains("[["),
    };
    lexer.words(None, Until::End);
    if !lexer.heredocs.is_empty() {
        let start = lexer.heredocs[0].start;
        lexer.doubt(start, "a here-document with no body");
    }
    let Lexer { found, doubt, evaluated, .. } = lexer;
    found
        .into_iter()
        .map(|found| {
            // Every placeholder is visited; one that was not is refused.
            let (at, spot) = found.unwrap_or((0, Err(Refusal::Inside("where exp cannot read it"))));
            match (&doubt, spot) {
                (_, Err(why)) => Err(why),
                (Some((from, what)), Ok(_)) if at >= *from => Err(Refusal::After(what.clone())),
                (_, Ok(_)) if evaluated.iter().any(|range| range.contains(&at)) => {
                    Err(Refusal::Inside("inside a [[ ]] that compares numbers (bash evaluates its operands)"))
                }
                (_, Ok(spot)) => Ok(spot),
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    End,
    /// The `)` that closes a `$(`.
    Paren,
}

struct Heredoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
    start: usize,
}

struct Lexer<'a> {
    items: &'a [Item],
    at: usize,
    /// Each placeholder's position and spot, once visited.
    found: Vec<Option<(usize, Result<Spot, Refusal>)>>,
    /// The first point after which the lexer cannot be sure.
    doubt: Option<(usize, String)>,
    /// Here-documents whose bodies start at the next newline.
    heredocs: Vec<Heredoc>,
    /// The position right after a `$name`.
    after_name: Option<usize>,
    /// Spans of `[[ ... ]]` with `-eq`, `-lt`...: bash evaluates their
    /// operands as arithmetic, where `a[$(cmd)]` runs cmd, quoted or not.
    evaluated: Vec<std::ops::Range<usize>>,
    plain_bare: bool,
}

fn blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Characters that end an unquoted word.
fn operator(c: char) -> bool {
    ";&|()<>".contains(c)
}

impl Lexer<'_> {
    fn item(&self, at: usize) -> Option<Item> {
        self.items.get(at).copied()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        match self.item(at) {
            Some(Item::Char(c)) => Some(c),
            _ => None,
        }
    }

    /// Record a placeholder's spot; an earlier refusal (by what precedes
    /// it) stands.
    fn hole(&mut self, hole: usize, spot: Result<Spot, Refusal>) {
        if self.found[hole].is_none() {
            self.found[hole] = Some((self.at, spot));
        }
    }

    fn doubt(&mut self, from: usize, what: impl Into<String>) {
        if self.doubt.as_ref().is_none_or(|(at, _)| from < *at) {
            self.doubt = Some((from, what.into()));
        }
    }

    /// Whether the placeholder at the current position is glued to a `$name` before it.
    fn after_name(&self) -> bool {
        self.after_name == Some(self.at)
    }

    /// A backslash outside single quotes: a line continuation, or an
    /// escape of the next character (never of a placeholder).
    fn backslash(&mut self) {
        match self.item(self.at + 1) {
            Some(Item::Char('\n')) => {
                // Removed before sh reads words: harmless after a blank,
                // but glued to a word it may join what exp read apart.
                let before = self.at.checked_sub(1).and_then(|at| self.item(at));
                if !matches!(before, None | Some(Item::Hole(_)) | Some(Item::Char(' ' | '\t' | '\n'))) {
                    self.doubt(self.at, "a line continuation glued to a word (put a space before its \\)");
                }
                self.at += 2;
            }
            Some(Item::Hole(hole)) => {
                self.at += 1;
                self.hole(hole, Err(Refusal::AfterBackslash));
            }
            Some(Item::Char(_)) => self.at += 2,
            None => self.at += 1,
        }
    }

    /// Unquoted text: a whole template, or the inside of a `$(...)`
    /// (`nested` then says where a placeholder would stand).
    fn words(&mut self, nested: Option<&'static str>, until: Until) {
        let start = self.at;
        let (mut word_start, mut tilde, mut parens) = (true, false, 0usize);
        // Where a `[[` opened, and whether it compares numbers.
        let mut test: Option<(usize, bool)> = None;
        loop {
            if word_start {
                if self.word_is("[[") {
                    test = Some((self.at, false));
                } else if self.word_is("]]") {
                    if let Some((from, true)) = test {
                        self.evaluated.push(from..self.at);
                    }
                    test = None;
                } else if let Some((_, numbers)) = &mut test {
                    *numbers |= ["-eq", "-ne", "-lt", "-le", "-gt", "-ge"].iter().any(|op| self.word_is(op));
                }
            }
            let Some(item) = self.item(self.at) else {
                if until == Until::Paren {
                    self.doubt(start, "an unterminated $(");
                }
                return;
            };
            let c = match item {
                Item::Hole(hole) => {
                    let plain = self.plain_bare && !tilde && !self.after_name();
                    let spot = nested.map_or(Ok(Spot::Bare { plain }), |n| Err(Refusal::Inside(n)));
                    self.hole(hole, spot);
                    self.at += 1;
                    word_start = false;
                    continue;
                }
                Item::Char(c) => c,
            };
            let next = self.char_at(self.at + 1);
            match c {
                ' ' | '\t' => self.at += 1,
                '\n' => {
                    self.at += 1;
                    self.heredoc_bodies();
                }
                '\\' => self.backslash(),
                '\'' => {
                    self.at += 1;
                    self.single(nested);
                }
                '"' => {
                    self.at += 1;
                    self.double(nested);
                }
                '`' => {
                    self.at += 1;
                    self.backquote();
                }
                '$' => self.dollar(false),
                '#' if word_start => self.comment(),
                '<' if next == Some('<') => {
                    if self.char_at(self.at + 2) == Some('<') {
                        // bash's here-string: an ordinary word follows (dash
                        // refuses the syntax and runs nothing).
                        self.at += 3;
                    } else {
                        self.at += 2;
                        self.heredoc();
                    }
                }
                '(' if word_start && next == Some('(') => {
                    // bash's arithmetic command (two subshells to dash).
                    self.at += 2;
                    self.arithmetic("inside (( ))");
                }
                '(' => {
                    parens += 1;
                    self.at += 1;
                }
                ')' => {
                    self.at += 1;
                    if until == Until::Paren {
                        if parens == 0 {
                            return;
                        }
                        parens -= 1;
                    }
                }
                'c' if word_start && until == Until::Paren && self.word_is("case") => {
                    // Its patterns end with a `)` that does not close the `$(`.
                    self.doubt(self.at, "a case inside $(...)");
                    self.at += 1;
                }
                _ => self.at += 1,
            }
            // What the next character starts.
            word_start = blank(c) || c == '\n' || operator(c);
            tilde = match c {
                '~' => true,
                '/' | ' ' | '\t' | '\n' => false,
                c if operator(c) => false,
                _ => tilde,
            };
        }
    }

    /// Whether the word at the current position is `word`.
    fn word_is(&self, word: &str) -> bool {
        let mut at = self.at;
        for expected in word.chars() {
            if self.char_at(at) != Some(expected) {
                return false;
            }
            at += 1;
        }
        self.char_at(at).is_none_or(|c| blank(c) || c == '\n' || operator(c))
            && !matches!(self.item(at), Some(Item::Hole(_)))
    }

    /// After an opening `'`.
    fn single(&mut self, nested: Option<&'static str>) {
        let start = self.at - 1;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated '"),
                Some(Item::Hole(hole)) => {
                    self.hole(hole, nested.map_or(Ok(Spot::Single), |n| Err(Refusal::Inside(n))))
                }
                Some(Item::Char('\'')) => {
                    self.at += 1;
                    return;
                }
                Some(Item::Char(_)) => {}
            }
            self.at += 1;
        }
    }

    /// After an opening `"`.
    fn double(&mut self, nested: Option<&'static str>) {
        let start = self.at - 1;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated \""),
                Some(Item::Hole(hole)) => {
                    let plain = !self.after_name();
                    self.hole(hole, nested.map_or(Ok(Spot::Double { plain }), |n| Err(Refusal::Inside(n))));
                    self.at += 1;
                }
                Some(Item::Char('"')) => {
                    self.at += 1;
                    return;
                }
                Some(Item::Char('\\')) => self.backslash(),
                Some(Item::Char('`')) => {
                    self.at += 1;
                    self.backquote();
                }
                Some(Item::Char('$')) => self.dollar(true),
                Some(Item::Char(_)) => self.at += 1,
            }
        }
    }

    /// After an opening backquote: up to the first one not escaped.
    fn backquote(&mut self) {
        let start = self.at - 1;
        if !self.heredocs.is_empty() {
            self.doubt(start, "a backquote on the line of a here-document");
        }
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated `"),
                Some(Item::Hole(hole)) => self.hole(hole, Err(Refusal::Inside("inside `...`"))),
                Some(Item::Char('`')) => {
                    self.at += 1;
                    return;
                }
                Some(Item::Char('\\')) => {
                    if let Some(Item::Hole(hole)) = self.item(self.at + 1) {
                        self.hole(hole, Err(Refusal::Inside("inside `...`")));
                    }
                    self.at += 1;
                }
                Some(Item::Char(_)) => {}
            }
            self.at += 1;
        }
    }

    /// At a `$`, outside single quotes.
    fn dollar(&mut self, in_double: bool) {
        let start = self.at;
        self.at += 1;
        match self.item(self.at) {
            Some(Item::Hole(hole)) => self.hole(hole, Err(Refusal::AfterDollar)),
            Some(Item::Char('\\')) if self.char_at(self.at + 1) == Some('\n') => {
                self.doubt(start, "a line continuation right after a $");
            }
            Some(Item::Char('(')) if self.char_at(self.at + 1) == Some('(') => {
                self.at += 2;
                self.arithmetic("inside $((...))");
            }
            Some(Item::Char('(')) => {
                if !self.heredocs.is_empty() {
                    self.doubt(start, "a $( on the line of a here-document");
                }
                self.at += 1;
                self.words(Some("inside $(...)"), Until::Paren);
            }
            Some(Item::Char('{')) => {
                self.at += 1;
                self.braces(in_double);
            }
            Some(Item::Char('[')) => {
                // bash's old arithmetic, `$[...]`.
                self.at += 1;
                self.brackets();
            }
            Some(Item::Char('\'')) if !in_double => {
                self.at += 1;
                self.ansi_c();
            }
            Some(Item::Char('"')) if !in_double => {
                self.at += 1;
                self.double(Some("inside $\"...\""));
            }
            Some(Item::Char(c)) if c == '_' || c.is_ascii_alphabetic() => {
                while self.char_at(self.at).is_some_and(|c| c == '_' || c.is_ascii_alphanumeric()) {
                    self.at += 1;
                }
                self.after_name = Some(self.at);
            }
            Some(Item::Char(c)) if c.is_ascii_digit() || "@*#?-$!".contains(c) => self.at += 1,
            _ => {}
        }
    }

    /// After `$[`: up to its `]`.
    fn brackets(&mut self) {
        let start = self.at - 2;
        let mut depth = 1;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated $["),
                Some(Item::Hole(hole)) => self.hole(hole, Err(Refusal::Inside("inside $[...]"))),
                Some(Item::Char('[')) => depth += 1,
                Some(Item::Char(']')) => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return;
                    }
                }
                Some(Item::Char('\'' | '"' | '`' | '\\' | '$')) => {
                    self.doubt(self.at, "a quote or $ inside $[...]")
                }
                Some(Item::Char(_)) => {}
            }
            self.at += 1;
        }
    }

    /// After `${`: up to its `}`.
    fn braces(&mut self, in_double: bool) {
        const WHERE: &str = "inside ${...}";
        let start = self.at - 2;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated ${"),
                Some(Item::Hole(hole)) => {
                    self.hole(hole, Err(Refusal::Inside(WHERE)));
                    self.at += 1;
                }
                Some(Item::Char('}')) => {
                    self.at += 1;
                    return;
                }
                Some(Item::Char('\\')) => self.backslash(),
                Some(Item::Char('\'')) => {
                    // dash and bash disagree on quotes in "${...}".
                    if in_double {
                        self.doubt(self.at, "a ' inside \"${...}\"");
                    }
                    self.at += 1;
                    self.single(Some(WHERE));
                }
                Some(Item::Char('"')) => {
                    if in_double {
                        self.doubt(self.at, "a \" inside \"${...}\"");
                    }
                    self.at += 1;
                    self.double(Some(WHERE));
                }
                Some(Item::Char('`')) => {
                    self.at += 1;
                    self.backquote();
                }
                Some(Item::Char('$')) => self.dollar(in_double),
                Some(Item::Char('{')) => {
                    // bash counts braces inside ${...}; dash does not.
                    self.doubt(self.at, "a { inside ${...}");
                    self.at += 1;
                }
                Some(Item::Char(_)) => self.at += 1,
            }
        }
    }

    /// After `$((` or `((`: up to the matching `))`.
    fn arithmetic(&mut self, inside: &'static str) {
        let start = self.at - 2;
        let mut depth = 2;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated (("),
                Some(Item::Hole(hole)) => self.hole(hole, Err(Refusal::Inside(inside))),
                Some(Item::Char('(')) => depth += 1,
                Some(Item::Char(')')) => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return;
                    }
                }
                Some(Item::Char('\'' | '"' | '`' | '\\')) => self.doubt(self.at, format!("a quote {inside}")),
                Some(Item::Char(_)) => {}
            }
            self.at += 1;
        }
    }

    /// After `$'`: bash's ANSI-C quoting (dash reads `$` and then '...').
    fn ansi_c(&mut self) {
        let start = self.at - 2;
        loop {
            match self.item(self.at) {
                None => return self.doubt(start, "an unterminated $'"),
                Some(Item::Hole(hole)) => self.hole(hole, Err(Refusal::Inside("inside $'...'"))),
                Some(Item::Char('\'')) => {
                    self.at += 1;
                    return;
                }
                Some(Item::Char('\\')) => {
                    // Where it ends depends on the shell.
                    self.doubt(self.at, "a backslash inside $'...'");
                    self.at += 1;
                }
                Some(Item::Char(_)) => {}
            }
            self.at += 1;
        }
    }

    /// At a `#` that starts a word: up to the end of the line.
    fn comment(&mut self) {
        while let Some(item) = self.item(self.at) {
            match item {
                Item::Char('\n') => return,
                Item::Hole(hole) => self.hole(hole, Err(Refusal::Inside("in a comment"))),
                Item::Char(_) => {}
            }
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests;
