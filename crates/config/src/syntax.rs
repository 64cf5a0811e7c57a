//! The located value tree every config syntax is turned into.
//!
//! HCL2 (through hcl-rs), HCL1 (our own small parser, for the quoted-key style Vault accepts)
//! and JSON (our own strict parser) all produce the same [`Node`] tree, in which every key and
//! every value keeps the byte range it came from. The decoder reads only this tree, so every
//! error it reports can name a `file:line:col`, whatever syntax the user wrote.
//!
//! Blocks follow the HCL JSON mapping: `method "approle" { … }` becomes the entry `method`
//! whose value is an object with the single entry `approle`. Repeated keys are kept as repeated
//! entries, in file order; the decoder decides whether a key may repeat.

use std::borrow::Cow;
use std::ops::Range;

/// How deeply blocks, objects and lists may nest below the top level of a file, as in hcl-rs.
/// The parsers are recursive; the limit keeps hostile or broken input from overflowing the
/// stack, and no real config comes close to it.
pub const MAX_DEPTH: usize = 64;

/// The message of a syntax error at the `{`, `[` or label that goes deeper than [`MAX_DEPTH`].
pub fn too_deep() -> String {
    format!("nested too deeply: blocks, objects and lists may nest at most {MAX_DEPTH} levels deep")
}

/// Names a character found where something else was expected: `` `x` `` when it can be seen,
/// `character U+0000` when it cannot (see [`is_hidden`]), and `end of file` for none.
pub fn describe_char(c: Option<char>) -> String {
    match c {
        None => "end of file".to_owned(),
        Some(c) if is_hidden(c) => format!("character U+{:04X}", u32::from(c)),
        Some(c) => format!("`{c}`"),
    }
}

/// Characters that print as nothing, or as something else than themselves: control
/// characters, spaces other than ` `, the soft hyphen, zero-width and direction marks, word
/// joiners and the byte order mark.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{ad}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{feff}'
        )
}

/// `text` with every [hidden](is_hidden) character written as `<U+0000>`, for messages that
/// quote what the user wrote.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_hidden(c) {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A value with the byte range of the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Byte range in the source text.
    pub span: Range<usize>,
}

/// One `key = value` (or block) inside an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key, unquoted.
    pub key: String,
    /// Byte range of the key in the source text.
    pub key_span: Range<usize>,
    /// The value.
    pub value: Node,
}

/// The kinds of values a config can hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as written so that `0640` can be read as octal.
    Number(String),
    /// A string, with escapes resolved; `${…}` is kept verbatim.
    String(String),
    /// `[ … ]`.
    List(Vec<Node>),
    /// `{ … }` or a block body.
    Object(Vec<Entry>),
    /// An HCL2 expression that a config cannot evaluate (a variable, a function call, …),
    /// with a short description of what it is.
    Expression(&'static str),
}

impl Value {
    /// A short name of the kind of value, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Object(_) => "a block",
            Value::Expression(what) => what,
        }
    }
}

/// Maps byte offsets of one source text to 1-based lines and columns, each in about constant
/// time, so that a file with very many problems (even on one long line) is reported quickly.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    /// `chars_before[i]`: how many characters the text has before byte `i * CHECKPOINT`.
    chars_before: Vec<usize>,
}

/// The distance in bytes between two character-count checkpoints of a [`LineIndex`].
const CHECKPOINT: usize = 256;

impl LineIndex {
    /// Indexes `text`.
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(offset, _)| offset + 1));
        let mut chars_before = vec![0];
        let mut count = 0;
        for chunk in text.as_bytes().chunks(CHECKPOINT) {
            count += chars_in(chunk);
            chars_before.push(count);
        }
        Self {
            line_starts,
            chars_before,
        }
    }

    /// The 1-based line and column (in characters) of byte `offset` of `text`.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = self
            .line_starts
            .partition_point(|start| *start <= offset)
            .max(1);
        let start = self.line_starts[line - 1];
        let end = offset.min(text.len()).max(start);
        let column = self.chars_until(text, end) - self.chars_until(text, start) + 1;
        (line, column)
    }

    /// How many characters `text` has before byte `offset` (a byte inside a character counts
    /// that character).
    fn chars_until(&self, text: &str, offset: usize) -> usize {
        let checkpoint = offset / CHECKPOINT;
        let from = checkpoint * CHECKPOINT;
        self.chars_before.get(checkpoint).copied().unwrap_or(0)
            + text.as_bytes().get(from..offset).map_or(0, chars_in)
    }
}

/// The number of characters that start in `bytes` (every byte but UTF-8 continuation bytes).
fn chars_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|byte| (**byte & 0xC0) != 0x80).count()
}

/// Resolves the escapes of an HCL quoted string body (without the quotes) as HCL1, the
/// dialect Vault Agent reads, does: Go's escapes (`\n`, `\t`, `\"`, `\\`, `\a`, `\b`, `\f`,
/// `\v`, `\r`, `\xHH`, `\OOO`, `\uHHHH`, `\UHHHHHHHH`, and `\/`), while `${…}`, `%{…}`, `$${`
/// and `%%{` are kept verbatim (HCL2 would turn `$${` into `${`; Vault Agent does not).
pub fn unescape(body: &str) -> Result<String, String> {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('/') => out.push('/'),
                Some('a') => out.push('\u{7}'),
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('v') => out.push('\u{b}'),
                Some(first @ ('x' | '0'..='7')) => {
                    let (radix, rest, shown) = if first == 'x' {
                        (16, 2, String::from("x"))
                    } else {
                        (8, 2, first.to_string())
                    };
                    let digits: String = (0..rest).filter_map(|_| chars.next()).collect();
                    let text = if first == 'x' {
                        digits.clone()
                    } else {
                        format!("{first}{digits}")
                    };
                    let byte = u8::from_str_radix(&text, radix)
                        .ok()
                        .filter(|byte| byte.is_ascii())
                        .ok_or_else(|| {
                            format!(
                                "invalid escape `\\{shown}{digits}`: it must stand for an ASCII character (below `\\x80`)"
                            )
                        })?;
                    out.push(char::from(byte));
                }
                Some(kind @ ('u' | 'U')) => {
                    let digits = if kind == 'u' { 4 } else { 8 };
                    let hex: String = (0..digits).filter_map(|_| chars.next()).collect();
                    let code = u32::from_str_radix(&hex, 16)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("invalid unicode escape `\\{kind}{hex}`"))?;
                    out.push(code);
                }
                Some(other) => return Err(format!("unknown escape `\\{other}` in a string")),
                None => return Err("a string ends with a lone `\\`".to_owned()),
            },
            other => out.push(other),
        }
    }
    Ok(out)
}

/// The text of a heredoc given its whole source `<<EOT\n…\nEOT` (or `<<-EOT`).
///
/// `<<-` follows HCL1, which Vault Agent and OpenBao Agent parse configs with (not HCL2): the
/// indentation of the closing `EOT` line is removed from every line when every line starts
/// with it; otherwise the text is kept as written, minus the spaces and tabs at its very end.
/// (HCL2 removes the smallest indentation of the lines instead, which would render templates
/// differently.) Line ends are `\n` whatever the file uses, as HCL1 reads a CRLF file.
pub fn heredoc_body(source: &str) -> Option<String> {
    if source.contains("\r\n") {
        return heredoc_body(&source.replace("\r\n", "\n"));
    }
    let rest = source.strip_prefix("<<")?;
    let (indented, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let newline = rest.find('\n')?;
    let delimiter = rest[..newline].trim_end_matches('\r').trim();
    let body = &rest[newline + 1..];
    let mut lines: Vec<&str> = body.split_inclusive('\n').collect();
    // Drop the closing delimiter line, keeping its indentation.
    let mut closing_indent = "";
    if lines.last().is_some_and(|last| last.trim() == delimiter) {
        let closing = lines.pop().unwrap_or_default();
        closing_indent = &closing[..closing.len() - closing.trim_start_matches([' ', '\t']).len()];
    }
    let text = lines.concat();
    if !indented {
        return Some(text);
    }
    let parts: Vec<&str> = text.split('\n').collect();
    let body_lines = &parts[..parts.len().saturating_sub(1)];
    if !body_lines
        .iter()
        .all(|line| line.starts_with(closing_indent))
    {
        return Some(text.trim_end_matches([' ', '\t']).to_owned());
    }
    let mut out: Vec<&str> = body_lines
        .iter()
        .map(|line| &line[closing_indent.len()..])
        .collect();
    out.push("");
    Some(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let text = "a\nbcd\né=1";
        let index = LineIndex::new(text);
        assert_eq!(index.line_col(text, 0), (1, 1));
        assert_eq!(index.line_col(text, 3), (2, 2));
        assert_eq!(index.line_col(text, 9), (3, 3));
        // Columns count characters across the index's checkpoints.
        let text = format!("{}\n{}x", "é".repeat(300), "日本".repeat(200));
        let index = LineIndex::new(&text);
        assert_eq!(index.line_col(&text, 600), (1, 301));
        assert_eq!(index.line_col(&text, 601), (2, 1));
        assert_eq!(index.line_col(&text, text.len() - 1), (2, 401));
        assert_eq!(index.line_col(&text, text.len()), (2, 402));
    }

    #[test]
    fn hidden_characters_are_named() {
        assert_eq!(describe_char(Some('x')), "`x`");
        assert_eq!(describe_char(Some('\0')), "character U+0000");
        assert_eq!(describe_char(Some('\u{feff}')), "character U+FEFF");
        assert_eq!(describe_char(Some('\u{a0}')), "character U+00A0");
        assert_eq!(describe_char(None), "end of file");
        assert_eq!(visible("a`b é"), "a`b é");
        assert_eq!(visible("a\u{1}b\u{200b}"), "a<U+0001>b<U+200B>");
    }

    #[test]
    fn unescapes() {
        assert_eq!(
            unescape(r#"a\"b\\c\n ${x} $${y} %%{z} \u00e9"#).unwrap(),
            "a\"b\\c\n ${x} $${y} %%{z} é"
        );
        assert_eq!(
            unescape(r"\x41\101\a\b\f\v\/").unwrap(),
            "AA\u{7}\u{8}\u{c}\u{b}/"
        );
        assert!(unescape(r"\q").is_err());
        assert_eq!(
            unescape(r"\xff").unwrap_err(),
            r"invalid escape `\xff`: it must stand for an ASCII character (below `\x80`)"
        );
        assert_eq!(
            unescape(r"\777").unwrap_err(),
            r"invalid escape `\777`: it must stand for an ASCII character (below `\x80`)"
        );
    }

    #[test]
    fn heredocs() {
        assert_eq!(
            heredoc_body("<<EOT\nhello ${x}\n  two\nEOT").unwrap(),
            "hello ${x}\n  two\n"
        );
        assert_eq!(
            heredoc_body("<<-EOT\n    a\n      b\n    EOT").unwrap(),
            "a\n  b\n"
        );
        // HCL1, as Vault Agent: the closing line's indentation is removed, not the smallest.
        assert_eq!(
            heredoc_body("<<-EOT\n    a\n      b\n  EOT\n").unwrap(),
            "  a\n    b\n"
        );
        // A line without that indentation (an empty one too) keeps the text as written,
        // its final line end included (as bao agent renders it).
        assert_eq!(
            heredoc_body("<<-EOT\n    a\n\n    b\n    EOT").unwrap(),
            "    a\n\n    b\n"
        );
        // CRLF line ends are read as LF.
        assert_eq!(
            heredoc_body("<<EOT\r\na\r\nb\r\nEOT\r\n").unwrap(),
            "a\nb\n"
        );
        assert_eq!(heredoc_body("<<-EOT\r\n  a\r\n  EOT").unwrap(), "a\n");
    }
}
