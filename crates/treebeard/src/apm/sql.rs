//! SQL obfuscation for span resources, in the shape DataDog's own
//! obfuscator gives them.
//!
//! The rules are those of the DataDog agent's SQL obfuscator in its default
//! configuration (as `libdd-trace-obfuscation`'s `obfuscate_sql_string`
//! implements it), so a resource looks the same whether treebeard or the
//! agent obfuscated it, and the agent obfuscating it again changes nothing:
//!
//! - literals become `?`: single-quoted strings (with `''` and `\'`
//!   escapes), double-quoted strings where a value goes (MySQL: after a
//!   comparison, in `IN (…)`, `VALUES (…)`, after `LIKE`), dollar-quoted bodies
//!   (`$$…$$`, `$tag$…$tag$`), numbers (with a sign, fraction, exponent),
//!   hex and bit literals (`0xFF`, `x'..'`), `TRUE`, `FALSE`, `NULL`, and the
//!   numbered placeholders `$1` and `?1`; `:name` placeholders are kept;
//! - a run of `?` and the commas between them is one `?`, so `IN (1, 2, 3)`
//!   and `IN ('a')` are both `IN ( ? )`, and `VALUES ( ? ), ( ? )` is
//!   `VALUES ( ? )`, `LIMIT ?, ?` is `LIMIT ?`;
//! - comments (`--`, `#`, `/* */`) and `;` are dropped, `AS <alias>` is
//!   dropped, quotes around other double-quoted or backquoted names
//!   (identifiers) are dropped, whitespace becomes one
//!   space, and tokens are spaced the same way whatever the input's layout.
//!
//! Hand-written rather than DataDog's crate at runtime: that crate brings
//! about 140 others (hyper, h2, prost …) to every build, also those without
//! the `datadog-otel` exporter. `tests/sql_obfuscation.rs` runs a corpus
//! through both and lists the few deliberate differences — one of them on
//! the safe side: DataDog takes a double-quoted string for a value only
//! after `=`, so `IN ("secret")` would keep the secret; treebeard does not.

use std::borrow::Cow;

/// `query` with its literal values replaced by `?`, in DataDog's resource
/// shape (docs/apm.md, "SQL obfuscation").
///
/// A query already in that shape — parameterised, single-spaced — comes back
/// borrowed: nothing is allocated.
///
/// ```
/// use treebeard::apm::obfuscate_sql;
/// assert_eq!(
///     obfuscate_sql("SELECT * FROM users WHERE email = 'a@b.c' AND age IN (42, 43) AND id = ?1"),
///     "SELECT * FROM users WHERE email = ? AND age IN ( ? ) AND id = ?"
/// );
/// ```
pub fn obfuscate_sql(query: &str) -> Cow<'_, str> {
    let mut tokenizer = Tokenizer::new(query);
    tokenizer.process();
    let text = tokenizer.out.finish();
    let text = then(text, collapse_groups);
    let text = then(text, collapse_values);
    then(text, collapse_limit)
}

/// What DataDog's obfuscator treats as whitespace (besides Unicode spaces).
const fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

const fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b > 127
}

/// Bytes that continue an identifier (DataDog's tokenizer lets `$ # * @`
/// continue one; `.` is added where identifiers are scanned).
const fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$' | b'#' | b'*' | b'@') || b > 127
}

/// The output, copied out of the input only once it differs from it.
struct Output<'a> {
    input: &'a str,
    /// While `owned` is `None`, the output is `input[..len]`.
    len: usize,
    owned: Option<String>,
}

impl<'a> Output<'a> {
    fn new(input: &'a str) -> Self {
        Output {
            input,
            len: 0,
            owned: None,
        }
    }

    fn as_str(&self) -> &str {
        match &self.owned {
            Some(text) => text,
            None => self.input.get(..self.len).unwrap_or(""),
        }
    }

    fn last(&self) -> Option<u8> {
        self.as_str().as_bytes().last().copied()
    }

    fn len(&self) -> usize {
        self.as_str().len()
    }

    fn push_str(&mut self, s: &str) {
        match &mut self.owned {
            Some(text) => text.push_str(s),
            None => {
                let rest = self.input.get(self.len..).unwrap_or("");
                if rest.starts_with(s) {
                    self.len += s.len();
                } else {
                    let mut text = String::with_capacity(self.input.len() + 8);
                    text.push_str(self.as_str());
                    text.push_str(s);
                    self.owned = Some(text);
                }
            }
        }
    }

    fn push(&mut self, c: char) {
        let mut buf = [0; 4];
        self.push_str(c.encode_utf8(&mut buf));
    }

    /// Cuts the output back to `len` bytes, an earlier length of it.
    fn truncate(&mut self, len: usize) {
        match &mut self.owned {
            Some(text) => {
                if text.is_char_boundary(len) {
                    text.truncate(len);
                }
            }
            None => self.len = self.len.min(len),
        }
    }

    /// Removes trailing spaces.
    fn trim_end_spaces(&mut self) {
        let trimmed = self.as_str().trim_end_matches(' ').len();
        self.truncate(trimmed);
    }

    /// The output without trailing spaces.
    fn finish(mut self) -> Cow<'a, str> {
        self.trim_end_spaces();
        self.finish_untrimmed()
    }

    fn finish_untrimmed(self) -> Cow<'a, str> {
        match self.owned {
            Some(text) => Cow::Owned(text),
            None => Cow::Borrowed(self.input.get(..self.len).unwrap_or("")),
        }
    }
}

struct Tokenizer<'a> {
    s: &'a str,
    bytes: &'a [u8],
    pos: usize,
    out: Output<'a>,
    /// Output length before the last ` AS`: the alias after it is dropped
    /// by cutting back to here.
    before_as: Option<usize>,
    /// The last token was a literal `?` (or a `;`): a comma or another
    /// literal right after it is dropped.
    last_was_placeholder: bool,
    /// The last token was `=`: a double-quoted string is a value.
    last_was_assign: bool,
}

impl<'a> Tokenizer<'a> {
    fn new(s: &'a str) -> Self {
        Tokenizer {
            s,
            bytes: s.as_bytes(),
            pos: 0,
            out: Output::new(s),
            before_as: None,
            last_was_placeholder: false,
            last_was_assign: false,
        }
    }

    fn peek(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn char_at(&self, at: usize) -> Option<char> {
        self.s.get(at..).and_then(|rest| rest.chars().next())
    }

    fn text(&self, from: usize, to: usize) -> &'a str {
        self.s.get(from..to).unwrap_or("")
    }

    fn last_nonspace(&self) -> Option<u8> {
        self.out
            .as_str()
            .as_bytes()
            .iter()
            .rev()
            .copied()
            .find(|&b| b != b' ')
    }

    /// A space before the next token, unless there is one already, the
    /// output is empty, or the last byte is a qualifying `.` (`t.col`).
    fn space(&mut self) {
        let text = self.out.as_str().as_bytes();
        let Some(&last) = text.last() else { return };
        let after_qualifier = last == b'.'
            && text.len() >= 2
            && text.get(text.len() - 2).is_some_and(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'_' | b'"' | b']' | b'#' | b'?')
                    || b > 127
            });
        if last != b' ' && !after_qualifier {
            if self.last_nonspace() != Some(b'?') {
                self.last_was_placeholder = false;
            }
            self.out.push(' ');
        } else if last == b' ' && !matches!(self.last_nonspace(), Some(b'?' | b'(')) {
            self.last_was_placeholder = false;
        }
    }

    fn emit(&mut self, token: &str) {
        self.space();
        self.out.push_str(token);
        self.last_was_placeholder = false;
        self.last_was_assign = false;
    }

    /// An operator: spaced on both sides.
    fn operator(&mut self, op: &str) {
        self.space();
        self.out.push_str(op);
        self.pos += op.len();
        self.last_was_placeholder = false;
        self.last_was_assign = false;
        self.out.push(' ');
    }

    /// A literal's `?`, unless the last token was one.
    fn placeholder(&mut self) {
        if self.last_was_placeholder {
            return;
        }
        self.space();
        self.out.push('?');
        self.last_was_placeholder = true;
        self.last_was_assign = false;
    }

    /// After `AS`, the next token is the alias: drops it and the `AS`.
    fn drop_alias(&mut self) -> bool {
        match self.before_as.take() {
            Some(len) => {
                self.out.truncate(len);
                true
            }
            None => false,
        }
    }

    /// A literal that ends at `end`.
    fn literal(&mut self, end: usize) {
        self.pos = end;
        if !self.drop_alias() {
            self.placeholder();
        }
    }

    fn skip_whitespace(&mut self) {
        while let Some(b) = self.peek(0) {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b > 127 {
                match self.char_at(self.pos) {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => break,
                }
            } else {
                break;
            }
        }
    }

    fn skip_line(&mut self) {
        self.pos = self.bytes[self.pos.min(self.bytes.len())..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |p| self.pos + p);
    }

    fn skip_block_comment(&mut self) {
        self.pos = find(self.bytes, self.pos + 2, b"*/").map_or(self.bytes.len(), |p| p + 2);
    }

    /// End of a number starting at the current position.
    fn number_end(&self, mut i: usize, mut saw_dot: bool) -> usize {
        let mut saw_exp = false;
        while let Some(&b) = self.bytes.get(i) {
            match b {
                b'0'..=b'9' => i += 1,
                b'.' if !saw_dot => {
                    saw_dot = true;
                    i += 1;
                }
                b'e' | b'E' if !saw_exp => {
                    saw_exp = true;
                    i += 1;
                    if matches!(self.bytes.get(i), Some(b'+' | b'-')) {
                        i += 1;
                    }
                }
                _ => break,
            }
        }
        i
    }

    fn ident_end(&self, mut i: usize) -> usize {
        while let Some(&b) = self.bytes.get(i) {
            if b > 127 {
                match self.char_at(i) {
                    Some(c) if c.is_whitespace() => break,
                    Some(c) => i += c.len_utf8(),
                    None => break,
                }
            } else if is_ident_char(b) || b == b'.' {
                i += 1;
            } else {
                break;
            }
        }
        i
    }

    /// `"…"` or `` `…` `` (the quote doubled inside is one): its end and
    /// whether its body is empty or blank.
    fn quoted_end(&self, quote: u8) -> (usize, bool) {
        let mut i = self.pos + 1;
        let mut blank = true;
        while let Some(&b) = self.bytes.get(i) {
            if b == quote {
                if self.bytes.get(i + 1) == Some(&quote) {
                    blank = false;
                    i += 2;
                    continue;
                }
                return (i + 1, blank);
            }
            if !is_whitespace(b) {
                blank = false;
            }
            i += 1;
        }
        (self.bytes.len(), blank)
    }

    /// A quoted identifier: written without its quotes (a doubled quote
    /// inside written once).
    fn quoted_identifier(&mut self, quote: u8, end: usize) {
        let body = self.text(self.pos + 1, end.saturating_sub(1).max(self.pos + 1));
        let body = if end == self.bytes.len() && !self.s.ends_with(quote as char) {
            self.text(self.pos + 1, end)
        } else {
            body
        };
        self.pos = end;
        if self.drop_alias() {
            return;
        }
        if body.is_empty() {
            let q = if quote == b'"' { "\"\"" } else { "``" };
            self.emit(q);
        } else {
            let doubled = [quote, quote];
            let doubled = std::str::from_utf8(&doubled).unwrap_or("");
            if body.contains(doubled) {
                self.emit(&body.replace(doubled, &(quote as char).to_string()));
            } else {
                self.emit(body);
            }
        }
        self.dot_after_quoted();
    }

    /// `"t"."c"` is written `t . c`, `"t".*` is `t.*`.
    fn dot_after_quoted(&mut self) {
        if self.peek(0) != Some(b'.') {
            return;
        }
        match self.peek(1) {
            Some(b'`' | b'"' | b'[') => {
                self.out.push_str(" . ");
                self.pos += 1;
            }
            Some(b'*') => {
                self.out.push_str(".*");
                self.pos += 2;
            }
            Some(c) if is_ident_start(c) => {
                self.out.push_str(" . ");
                self.pos += 1;
            }
            _ => {
                self.out.push('.');
                self.pos += 1;
            }
        }
    }

    fn identifier(&mut self, end: usize) {
        let ident = self.text(self.pos, end);
        self.pos = end;
        if ident.eq_ignore_ascii_case("null")
            || ident.eq_ignore_ascii_case("true")
            || ident.eq_ignore_ascii_case("false")
        {
            if !self.drop_alias() {
                self.placeholder();
            }
            return;
        }
        if ident.eq_ignore_ascii_case("as") {
            self.out.trim_end_spaces();
            let before = self.out.len();
            self.space();
            self.out.push_str(ident);
            self.before_as = Some(before);
            self.last_was_placeholder = false;
            return;
        }
        if self.before_as.is_some() && KEEPS_AS.iter().any(|k| ident.eq_ignore_ascii_case(k)) {
            self.before_as = None;
        }
        if self.drop_alias() {
            return;
        }
        self.emit(ident);
        if ident.ends_with('.') && !self.at_end() {
            self.out.push(' ');
        }
    }

    fn process(&mut self) {
        while let Some(b) = self.peek(0) {
            match b {
                b if is_whitespace(b) => {
                    self.skip_whitespace();
                    if self.before_as.is_none() {
                        self.space();
                    }
                }
                b'-' if self.peek(1) == Some(b'-') => self.skip_line(),
                b'/' if self.peek(1) == Some(b'/') => self.skip_line(),
                b'#' => self.skip_line(),
                b'/' if self.peek(1) == Some(b'*') => self.skip_block_comment(),
                b';' => {
                    self.pos += 1;
                    self.last_was_placeholder = true;
                }
                b'(' => {
                    self.pos += 1;
                    if self.drop_alias() {
                        self.skip_whitespace();
                        continue;
                    }
                    self.space();
                    self.out.push('(');
                    self.skip_whitespace();
                    self.out.push(' ');
                }
                b')' => {
                    self.pos += 1;
                    if self.drop_alias() {
                        continue;
                    }
                    if !matches!(self.out.last(), Some(b'(' | b' ') | None) {
                        self.out.push(' ');
                    }
                    self.out.push(')');
                }
                b',' => {
                    self.pos += 1;
                    if self.drop_alias() {
                        continue;
                    }
                    self.out.trim_end_spaces();
                    if !self.last_was_placeholder {
                        self.out.push(',');
                    }
                }
                b'\'' => {
                    let end = quoted_string_end(self.bytes, self.pos);
                    self.literal(end);
                }
                b'`' => {
                    let (end, _) = self.quoted_end(b'`');
                    self.quoted_identifier(b'`', end);
                }
                b'"' => {
                    let (end, blank) = self.quoted_end(b'"');
                    let empty = end == self.pos + 2;
                    if (blank && !empty) || self.in_value_position() {
                        self.literal(end);
                        self.dot_after_quoted();
                    } else {
                        self.quoted_identifier(b'"', end);
                    }
                }
                b'$' => self.dollar(),
                b'0' if matches!(self.peek(1), Some(b'x' | b'X')) => {
                    let mut end = self.pos + 2;
                    while self.bytes.get(end).is_some_and(u8::is_ascii_hexdigit) {
                        end += 1;
                    }
                    self.literal(end);
                }
                b'x' | b'X' if self.peek(1) == Some(b'\'') => {
                    let end = quoted_string_end(self.bytes, self.pos + 1);
                    self.literal(end);
                }
                b'%' => match self.peek(1) {
                    Some(c) if c.is_ascii_alphabetic() || matches!(c, b'_' | b'@' | b'#') => {
                        self.literal(self.pos + 2);
                    }
                    Some(b'(') => {
                        let mut end =
                            find(self.bytes, self.pos, b")").map_or(self.bytes.len(), |p| p + 1);
                        if self.bytes.get(end).is_some_and(u8::is_ascii_alphabetic) {
                            end += 1;
                        }
                        self.literal(end);
                    }
                    _ => {
                        if !self.drop_alias() {
                            self.operator("%");
                        } else {
                            self.pos += 1;
                        }
                    }
                },
                b'.' if self.peek(1).is_some_and(|c| c.is_ascii_digit())
                    && !self
                        .out
                        .last()
                        .is_some_and(|c| is_ident_char(c) || c == b'"' || c == b'`') =>
                {
                    let end = self.number_end(self.pos + 1, true);
                    self.literal(end);
                }
                b'.' => {
                    let preceded_by_ident = self
                        .out
                        .last()
                        .is_some_and(|c| is_ident_char(c) || c == b'"' || c == b'`');
                    if preceded_by_ident {
                        self.out.push('.');
                        self.pos += 1;
                    } else if !self.drop_alias() {
                        self.space();
                        self.out.push('.');
                        self.pos += 1;
                    } else {
                        self.pos += 1;
                    }
                }
                b'0'..=b'9' => {
                    let end = self.number_end(self.pos, false);
                    self.literal(end);
                }
                b'-' => match self.peek(1) {
                    Some(b'>') if self.peek(2) == Some(b'>') => self.op_unless_alias("->>"),
                    Some(b'>') => self.op_unless_alias("->"),
                    Some(c) if c.is_ascii_digit() => {
                        let end = self.number_end(self.pos + 1, false);
                        self.literal(end);
                    }
                    Some(b'.') if self.peek(2).is_some_and(|c| c.is_ascii_digit()) => {
                        let end = self.number_end(self.pos + 2, true);
                        self.literal(end);
                    }
                    _ => self.op_unless_alias("-"),
                },
                b'?' => match self.peek(1) {
                    Some(b'|') if self.peek(2) != Some(b'|') => self.op_unless_alias("?|"),
                    Some(b'&') => self.op_unless_alias("?&"),
                    _ => self.literal(self.pos + 1),
                },
                b':' => match self.peek(1) {
                    Some(b':') => self.op_unless_alias("::"),
                    Some(b'=') => self.op_unless_alias(":="),
                    Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'#' | b'@') => {
                        let end = self.ident_end(self.pos + 1);
                        let token = self.text(self.pos, end);
                        self.pos = end;
                        if !self.drop_alias() {
                            self.emit(token);
                            if token.ends_with('.') {
                                self.out.push(' ');
                            }
                        }
                    }
                    _ => self.op_unless_alias(":"),
                },
                b'<' => match self.peek(1) {
                    Some(b'>') => self.comparison("<>"),
                    Some(b'=') => self.comparison("<="),
                    _ => self.comparison("<"),
                },
                b'>' if self.peek(1) == Some(b'=') => self.comparison(">="),
                b'>' => self.comparison(">"),
                b'!' => match (self.peek(1), self.peek(2)) {
                    (Some(b'='), _) => self.comparison("!="),
                    (Some(b'~'), Some(b'*')) => self.op_unless_alias("!~*"),
                    (Some(b'~'), _) => self.op_unless_alias("!~"),
                    _ => self.op_unless_alias("!"),
                },
                b'~' if self.peek(1) == Some(b'*') => self.op_unless_alias("~*"),
                b'=' => self.comparison("="),
                b'+' | b'|' | b'&' | b'~' | b'^' | b'*' | b'/' => {
                    let op = self.text(self.pos, self.pos + 1);
                    self.op_unless_alias(op);
                }
                b'@' => {
                    let start = self.pos;
                    let end = self.ident_end(self.pos + 1);
                    self.pos = end.max(start + 1);
                    if !self.drop_alias() {
                        let token = self.text(start, self.pos);
                        self.emit(token);
                    }
                }
                _ if b > 127 && self.char_at(self.pos).is_some_and(char::is_whitespace) => {
                    self.skip_whitespace();
                    if self.before_as.is_none() {
                        self.space();
                    }
                }
                _ if is_ident_start(b) => {
                    let end = self.ident_end(self.pos);
                    self.identifier(end);
                }
                _ => {
                    // Anything else is written as it is.
                    let len = self.char_at(self.pos).map_or(1, char::len_utf8);
                    let c = self.text(self.pos, self.pos + len);
                    self.pos += len;
                    if !self.drop_alias() {
                        self.out.push_str(c);
                    }
                }
            }
        }
    }

    /// Whether a double-quoted string here is a value (MySQL) rather than an
    /// identifier: after a comparison, after another literal (`IN (1, "x")`),
    /// or first in `IN (`, `VALUES (` or after `LIKE`. DataDog takes it for a
    /// value only after `=`, which leaves `IN ("secret")` in the resource.
    fn in_value_position(&self) -> bool {
        if self.last_was_assign || self.last_was_placeholder {
            return true;
        }
        let text = self.out.as_str().trim_end_matches(' ');
        let ends_with = |word: &str| {
            text.len() >= word.len()
                && text
                    .get(text.len() - word.len()..)
                    .is_some_and(|end| end.eq_ignore_ascii_case(word))
                && text
                    .as_bytes()
                    .get(text.len().wrapping_sub(word.len() + 1))
                    .is_none_or(|&b| !is_ident_char(b))
        };
        ends_with("IN (") || ends_with("VALUES (") || ends_with("LIKE")
    }

    /// A comparison: what follows is a value.
    fn comparison(&mut self, op: &str) {
        self.op_unless_alias(op);
        self.last_was_assign = true;
    }

    fn op_unless_alias(&mut self, op: &str) {
        if self.drop_alias() {
            self.pos += op.len();
        } else {
            self.operator(op);
        }
    }

    /// `$1` (a placeholder, written `?`), `$$…$$` and `$tag$…$tag$`
    /// (literals), or an identifier starting with `$`.
    fn dollar(&mut self) {
        match self.peek(1) {
            Some(c) if c.is_ascii_digit() || c == b'?' => {
                let mut end = self.pos + 1;
                while self
                    .bytes
                    .get(end)
                    .is_some_and(|&c| c.is_ascii_digit() || c == b'?')
                {
                    end += 1;
                }
                if self.bytes.get(end) == Some(&b'.') {
                    end += 1;
                    while self.bytes.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                }
                self.literal(end);
            }
            Some(c) if c == b'$' || c.is_ascii_alphabetic() || c == b'_' => {
                match dollar_quote_end(self.bytes, self.pos) {
                    Some(end) => self.literal(end),
                    None => self.dollar_identifier(),
                }
            }
            _ => self.dollar_identifier(),
        }
    }

    fn dollar_identifier(&mut self) {
        let start = self.pos;
        let mut end = self.pos + 1;
        while self.bytes.get(end).is_some_and(|&c| is_ident_char(c)) {
            end += 1;
        }
        self.pos = end;
        if !self.drop_alias() {
            let token = self.text(start, end);
            self.emit(token);
        }
    }
}

/// After `AS`, words that start the next clause rather than name an alias.
const KEEPS_AS: &[&str] = &[
    "begin",
    "end",
    "select",
    "insert",
    "update",
    "delete",
    "from",
    "where",
    "join",
    "on",
    "set",
    "values",
    "into",
    "group",
    "order",
    "having",
    "union",
    "intersect",
    "except",
    "limit",
    "offset",
    "with",
    "create",
    "drop",
    "alter",
    "truncate",
];

/// Index after the closing quote of the `'…'` string at `start`.
///
/// `''` inside is always an escaped quote. `\'` is one too when reading it
/// as the end would leave the string followed by a letter, digit or `_`
/// (`'it\'s'`): then the string runs to the next quote not escaped by a
/// backslash. Unterminated strings run to the end.
fn quoted_string_end(bytes: &[u8], start: usize) -> usize {
    let short = {
        let mut i = start + 1;
        let mut end = None;
        while let Some(&b) = bytes.get(i) {
            if b == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                end = Some(i + 1);
                break;
            }
            i += 1;
        }
        end
    };
    if let Some(end) = short
        && !bytes
            .get(end)
            .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return end;
    }
    let mut i = start + 1;
    let mut escaped = false;
    while let Some(&b) = bytes.get(i) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 1;
            } else {
                return i + 1;
            }
        }
        i += 1;
    }
    short.unwrap_or(bytes.len())
}

/// Index after `$tag$…$tag$` starting at `start`, if it is closed.
fn dollar_quote_end(bytes: &[u8], start: usize) -> Option<usize> {
    let tag_len = bytes
        .get(start + 1..)?
        .iter()
        .take_while(|&&b| b != b'$' && b != b'\n')
        .count();
    if bytes.get(start + 1 + tag_len) != Some(&b'$') {
        return None;
    }
    let tag = bytes.get(start..start + tag_len + 2)?;
    find(bytes, start + tag.len(), tag).map(|p| p + tag.len())
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// Applies `pass` to `text`, keeping it (and its borrow) when nothing changes.
fn then<'a>(text: Cow<'a, str>, pass: fn(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(text) => pass(text),
        Cow::Owned(text) => match pass(&text) {
            // A pass borrows what it keeps: all of it, or a prefix.
            Cow::Borrowed(kept) if kept.len() == text.len() => Cow::Owned(text),
            changed => Cow::Owned(changed.into_owned()),
        },
    }
}

/// The length of the character at `s[i..]` (1 past the end).
fn char_len(s: &str, i: usize) -> usize {
    s.get(i..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}

/// `( ?, ? )` → `( ? )`, `[ ?, ? ]` → `[ ? ]`.
fn collapse_groups(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let mut out = Output::new(s);
    let mut i = 0;
    while i < bytes.len() {
        let group = match bytes[i] {
            b'(' => pure_group_end(bytes, b'(', b')', i).map(|end| (end, "( ? )")),
            b'[' => pure_group_end(bytes, b'[', b']', i).map(|end| (end, "[ ? ]")),
            _ => None,
        };
        if let Some((end, collapsed)) = group {
            out.push_str(collapsed);
            i = end;
            continue;
        }
        let len = char_len(s, i);
        out.push_str(s.get(i..i + len).unwrap_or(""));
        i += len;
    }
    out.finish_untrimmed()
}

/// `VALUES ( ? ), ( ? )` → `VALUES ( ? )`.
fn collapse_values(s: &str) -> Cow<'_, str> {
    const FULL: usize = "VALUES ( ? )".len();
    let mut out = Output::new(s);
    let mut i = 0;
    while i < s.len() {
        if s.get(i..i + 6)
            .is_some_and(|k| k.eq_ignore_ascii_case("VALUES"))
            && s.get(i + 6..i + FULL) == Some(" ( ? )")
            && matches!(out.last(), None | Some(b' ' | b'(' | b'\n'))
        {
            out.push_str(s.get(i..i + FULL).unwrap_or(""));
            i += FULL;
            while let Some(group) = [", ( ? )", " ( ? )", " ()"]
                .into_iter()
                .find(|g| s.get(i..).is_some_and(|rest| rest.starts_with(g)))
            {
                i += group.len();
            }
            continue;
        }
        let len = char_len(s, i);
        out.push_str(s.get(i..i + len).unwrap_or(""));
        i += len;
    }
    out.finish_untrimmed()
}

/// `LIMIT ?, ?` → `LIMIT ?`.
fn collapse_limit(s: &str) -> Cow<'_, str> {
    let mut out = Output::new(s);
    let mut i = 0;
    while i < s.len() {
        if s.get(i..i + 7)
            .is_some_and(|k| k.eq_ignore_ascii_case("LIMIT ?"))
            && matches!(out.last(), None | Some(b' ' | b'(' | b'\n'))
        {
            let skip = if s.get(i + 7..i + 10) == Some(", ?") {
                Some(10)
            } else if s.get(i + 7..i + 9) == Some(" ?") {
                Some(9)
            } else {
                None
            };
            if let Some(skip) = skip {
                out.push_str(s.get(i..i + 7).unwrap_or(""));
                i += skip;
                continue;
            }
        }
        let len = char_len(s, i);
        out.push_str(s.get(i..i + len).unwrap_or(""));
        i += len;
    }
    out.finish_untrimmed()
}

/// End of `( ?, ?, … )` (commas optional, single spaces) at `i`.
fn pure_group_end(bytes: &[u8], open: u8, close: u8, i: usize) -> Option<usize> {
    if bytes.get(i) != Some(&open) {
        return None;
    }
    let mut k = i + 1;
    if bytes.get(k) == Some(&b' ') {
        k += 1;
    }
    if bytes.get(k) != Some(&b'?') {
        return None;
    }
    k += 1;
    loop {
        if bytes.get(k) == Some(&b' ') {
            k += 1;
        }
        match bytes.get(k) {
            None => return None,
            Some(&c) if c == close => return Some(k + 1),
            Some(b',') => {
                k += 1;
                if bytes.get(k) == Some(&b' ') {
                    k += 1;
                }
            }
            Some(_) => {}
        }
        if bytes.get(k) == Some(&b'?') {
            k += 1;
        } else {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_literals_and_keeps_structure() {
        let cases = [
            (
                "SELECT id FROM users WHERE id = 42",
                "SELECT id FROM users WHERE id = ?",
            ),
            (
                "SELECT * FROM t WHERE name = 'O''Brien' AND x = 3.14",
                "SELECT * FROM t WHERE name = ? AND x = ?",
            ),
            (
                "SELECT col1, t2.c3 FROM t2 WHERE a IN (1, 2, 3)",
                "SELECT col1, t2.c3 FROM t2 WHERE a IN ( ? )",
            ),
            (
                "SELECT * FROM users WHERE id = ?1 AND k = $2 AND n = :name",
                "SELECT * FROM users WHERE id = ? AND k = ? AND n = :name",
            ),
            (
                "SELECT x'DEADBEEF', 'héllo' -- secret 123\nFROM t",
                "SELECT ? FROM t",
            ),
            ("SELECT /* card 4111 */ 1", "SELECT ?"),
            ("SELECT \"col 5\" FROM t", "SELECT col 5 FROM t"),
            ("SELECT * FROM users", "SELECT * FROM users"),
            ("SELECT a = \"secret\" FROM t", "SELECT a = ? FROM t"),
            ("SELECT 'it\\'s', 'secret'", "SELECT ?"),
            ("SELECT $$secret$$, $tag$body$tag$", "SELECT ?"),
            (
                "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
                "INSERT INTO t VALUES ( ? )",
            ),
            ("SELECT a FROM t LIMIT 10, 20", "SELECT a FROM t LIMIT ?"),
            // The examples of docs/apm.md.
            (
                "SELECT * FROM users WHERE email = \"a@b.c\" AND id IN (1, 2, 3) -- admin",
                "SELECT * FROM users WHERE email = ? AND id IN ( ? )",
            ),
            (
                "SELECT count(*) FROM t WHERE (a, b) IN ((1, 2))",
                "SELECT count ( * ) FROM t WHERE ( a, b ) IN ( ( ? ) )",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(obfuscate_sql(input), expected, "{input}");
        }
    }

    #[test]
    fn a_query_already_in_shape_is_not_copied() {
        for query in [
            "SELECT id, name FROM users WHERE id = ?",
            "SELECT t2.c3, max ( x ) FROM t2 WHERE n = :n1",
            "SELECT * FROM t WHERE a IN ( ? )",
        ] {
            let out = obfuscate_sql(query);
            assert!(
                matches!(out, Cow::Borrowed(q) if q == query && q.as_ptr() == query.as_ptr()),
                "{query}: {out:?}"
            );
        }
        assert!(matches!(obfuscate_sql("SELECT 1"), Cow::Owned(_)));
        assert!(matches!(
            obfuscate_sql("SELECT a -- c\n"),
            Cow::Borrowed("SELECT a")
        ));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for input in [
            "'",
            "x'",
            "--",
            "/*",
            "9",
            "é9'",
            "'unterminated 42",
            "\u{1F600}1",
            "\"",
            "`",
            "$",
            "$a",
            "$$",
            "$a$ 42",
            ":",
            "%",
            "%(",
            "(",
            ")",
            ",",
            "AS",
            "a AS",
            "-.",
            ".5",
            "0x",
        ] {
            let out = obfuscate_sql(input);
            assert!(!out.contains("42"), "{input}: {out}");
        }
    }
}
