//! A strict JSON parser (RFC 8259) that produces the located [`Node`] tree.
//!
//! hcl-rs reads JSON as an HCL2 expression, which refuses valid JSON (`"%{http_code}"` is an
//! HCL template directive to it) and accepts text that is not JSON (comments, `key = value`,
//! trailing commas). This parser reads JSON and nothing else:
//!
//! - every key and value keeps its byte range, so the decoder can name `file:line:col`;
//! - numbers are kept as written in [`Value::Number`] (`416` stays `416`);
//! - strings resolve every JSON escape, including surrogate pairs (`"\ud83d\ude00"`), and are
//!   otherwise taken literally: `${…}` and `%{…}` reach the config unchanged;
//! - repeated keys are kept as repeated entries, as in the other syntaxes; the decoder decides
//!   whether a key may repeat;
//! - objects and lists nest at most [`MAX_DEPTH`] levels below the top-level object, which is
//!   what hcl-rs allowed;
//! - a syntax error names the byte offset of the problem and what was expected there.

use crate::syntax::{Entry, MAX_DEPTH, Node, Value, describe_char, too_deep};

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset of the problem in the source.
    pub offset: usize,
    /// What was wrong, e.g. "expected `,` or `}` after the value of `mode`, found `=`".
    pub message: String,
}

/// Parses a JSON config: one object, with nothing but whitespace around it.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    parser.skip_whitespace()?;
    let found = match parser.peek() {
        Some('{') => None,
        None => Some("nothing".to_owned()),
        Some('[') => Some("a list".to_owned()),
        Some('"') => Some("a string".to_owned()),
        Some(c) if c == '-' || c.is_ascii_digit() => Some("a number".to_owned()),
        Some(_) if parser.word() == "true" || parser.word() == "false" => {
            Some("a boolean".to_owned())
        }
        Some(_) if parser.word() == "null" => Some("null".to_owned()),
        Some(c) => Some(describe_char(Some(c))),
    };
    if let Some(found) = found {
        return Err(parser.error(format!(
            "a JSON config must be an object `{{ … }}`, found {found}"
        )));
    }
    let root = parser.object()?;
    parser.skip_whitespace()?;
    if parser.pos < text.len() {
        return Err(parser.error(format!(
            "unexpected {} after the end of the top-level object",
            parser.describe_here()
        )));
    }
    Ok(root)
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// How many objects and lists enclose the current position (the top-level object is 0).
    depth: usize,
}

impl<'t> Parser<'t> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn describe_here(&self) -> String {
        describe_char(self.peek())
    }

    /// The word (letters, digits, `_`, `-`, `.`) that starts here, for messages.
    fn word(&self) -> &'t str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(rest.len(), |(i, _)| i);
        &rest[..len]
    }

    /// Skips JSON whitespace (space, tab, newline, carriage return); refuses comments, which
    /// users write because other JSON readers (and HCL) accept them.
    fn skip_whitespace(&mut self) -> Result<(), ParseError> {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\n', '\r']);
        self.pos += rest.len() - trimmed.len();
        let comment = if trimmed.starts_with("//") {
            "`//`"
        } else if trimmed.starts_with("/*") {
            "`/* … */`"
        } else if trimmed.starts_with('#') {
            "`#`"
        } else {
            return Ok(());
        };
        Err(self.error(format!(
            "JSON has no comments: remove this {comment} comment"
        )))
    }

    /// Goes one level deeper at a `{` or `[`, or refuses to go deeper than [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(too_deep()));
        }
        self.depth += 1;
        Ok(())
    }

    /// The error for a `{` or `[` at `opened_at` that the file ends inside of.
    fn unclosed(opened_at: usize, open: char, close: char) -> ParseError {
        ParseError {
            offset: opened_at,
            message: format!(
                "this `{open}` is never closed: expected a matching `{close}` before the end of the file"
            ),
        }
    }

    /// Reads a value; `after` says what came before it, for messages.
    fn value(&mut self, after: &str) -> Result<Node, ParseError> {
        self.skip_whitespace()?;
        let start = self.pos;
        let value = match self.peek() {
            Some('{') => {
                self.enter()?;
                let node = self.object()?;
                self.depth -= 1;
                return Ok(node);
            }
            Some('[') => {
                self.enter()?;
                let node = self.list()?;
                self.depth -= 1;
                return Ok(node);
            }
            Some('"') => Value::String(self.string()?),
            Some(c) if c == '-' || c.is_ascii_digit() => Value::Number(self.number()?),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let word = self.word();
                let value = match word {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => {
                        return Err(self.error(format!(
                            "expected a value {after}, found the bare word `{word}`; quote strings: \"{word}\""
                        )));
                    }
                };
                self.pos += word.len();
                value
            }
            Some('\'') => {
                return Err(
                    self.error("JSON strings are quoted with `\"`, not with `'`".to_owned())
                );
            }
            _ => {
                return Err(self.error(format!(
                    "expected a value {after}, found {}",
                    self.describe_here()
                )));
            }
        };
        Ok(Node {
            value,
            span: start..self.pos,
        })
    }

    /// `{ "key": value, … }`, starting at the `{`.
    fn object(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1; // `{`
        let mut entries = Vec::new();
        let mut comma: Option<usize> = None;
        loop {
            self.skip_whitespace()?;
            match self.peek() {
                Some('}') => {
                    if let Some(comma) = comma {
                        return Err(ParseError {
                            offset: comma,
                            message: "trailing comma: JSON allows no `,` before `}`".to_owned(),
                        });
                    }
                    self.pos += 1;
                    break;
                }
                Some('"') => {}
                None => return Err(Self::unclosed(start, '{', '}')),
                Some('\'') => {
                    return Err(self.error("JSON keys are quoted with `\"`, not with `'`"));
                }
                Some(c) if c.is_alphabetic() || c == '_' => {
                    let word = self.word();
                    return Err(self.error(format!(
                        "expected a key in double quotes, found `{word}`; JSON keys are quoted: \"{word}\""
                    )));
                }
                Some(_) => {
                    return Err(self.error(format!(
                        "expected a key in double quotes, found {}",
                        self.describe_here()
                    )));
                }
            }
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            self.skip_whitespace()?;
            match self.peek() {
                Some(':') => self.pos += 1,
                Some('=') => {
                    return Err(self.error(format!(
                        "expected `:` after the key `{key}`, found `=`; JSON writes \"{key}\": value"
                    )));
                }
                None => return Err(Self::unclosed(start, '{', '}')),
                _ => {
                    return Err(self.error(format!(
                        "expected `:` after the key `{key}`, found {}",
                        self.describe_here()
                    )));
                }
            }
            self.skip_whitespace()?;
            if self.peek().is_none() {
                return Err(Self::unclosed(start, '{', '}'));
            }
            let value = self.value(&format!("after `\"{key}\":`"))?;
            entries.push(Entry {
                key,
                key_span,
                value,
            });
            self.skip_whitespace()?;
            match self.peek() {
                Some(',') => {
                    comma = Some(self.pos);
                    self.pos += 1;
                }
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(Self::unclosed(start, '{', '}')),
                _ => {
                    let key = entries.last().map_or("", |entry| entry.key.as_str());
                    return Err(self.error(format!(
                        "expected `,` or `}}` after the value of `{key}`, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
        Ok(Node {
            value: Value::Object(entries),
            span: start..self.pos,
        })
    }

    /// `[ value, … ]`, starting at the `[`.
    fn list(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.pos += 1; // `[`
        let mut items = Vec::new();
        let mut comma: Option<usize> = None;
        loop {
            self.skip_whitespace()?;
            match self.peek() {
                Some(']') => {
                    if let Some(comma) = comma {
                        return Err(ParseError {
                            offset: comma,
                            message: "trailing comma: JSON allows no `,` before `]`".to_owned(),
                        });
                    }
                    self.pos += 1;
                    break;
                }
                None => return Err(Self::unclosed(start, '[', ']')),
                _ => {}
            }
            items.push(self.value("in a list")?);
            self.skip_whitespace()?;
            match self.peek() {
                Some(',') => {
                    comma = Some(self.pos);
                    self.pos += 1;
                }
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                None => return Err(Self::unclosed(start, '[', ']')),
                _ => {
                    return Err(self.error(format!(
                        "expected `,` or `]` after an item of the list, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
        Ok(Node {
            value: Value::List(items),
            span: start..self.pos,
        })
    }

    /// A number, returned as written: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let digits_from = |mut at: usize| {
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            at
        };
        let mut at = start;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        let integer_end = digits_from(at);
        if integer_end == at {
            self.pos = at;
            return Err(self.error(format!(
                "expected a digit after `-`, found {}",
                self.describe_here()
            )));
        }
        if bytes[at] == b'0' && integer_end > at + 1 {
            let written = &self.text[start..integer_end];
            return Err(self.error(format!(
                "the number {written} starts with 0, which JSON does not allow (JSON has no octal numbers); write a file mode as a string: \"{written}\""
            )));
        }
        at = integer_end;
        if bytes.get(at) == Some(&b'.') {
            let fraction_end = digits_from(at + 1);
            if fraction_end == at + 1 {
                self.pos = at + 1;
                return Err(self.error(format!(
                    "expected a digit after the `.` of a number, found {}",
                    self.describe_here()
                )));
            }
            at = fraction_end;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let exponent_end = digits_from(at);
            if exponent_end == at {
                self.pos = at;
                return Err(self.error(format!(
                    "expected a digit in the exponent of a number, found {}",
                    self.describe_here()
                )));
            }
            at = exponent_end;
        }
        self.pos = at;
        Ok(self.text[start..at].to_owned())
    }

    /// A string, starting at its `"`, with every escape resolved.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1; // `"`
        let mut out = String::new();
        loop {
            let rest = self.rest();
            // Copy the run of plain characters at once.
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || c < ' ')
                .unwrap_or(rest.len());
            out.push_str(&rest[..plain]);
            self.pos += plain;
            match self.peek() {
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => out.push(self.escape()?),
                None | Some('\n' | '\r') => {
                    return Err(ParseError {
                        offset: start,
                        message:
                            "a string is never closed: expected `\"` before the end of the line"
                                .to_owned(),
                    });
                }
                Some(c) => {
                    let escape = match c {
                        '\t' => "\\t".to_owned(),
                        '\u{8}' => "\\b".to_owned(),
                        '\u{c}' => "\\f".to_owned(),
                        other => format!("\\u{:04x}", u32::from(other)),
                    };
                    return Err(self.error(format!(
                        "unexpected {} in a string; JSON strings hold control characters only as escapes: write `{escape}`",
                        describe_char(Some(c))
                    )));
                }
            }
        }
    }

    /// One escape, starting at its `\`.
    fn escape(&mut self) -> Result<char, ParseError> {
        let start = self.pos;
        self.pos += 1; // `\`
        let Some(kind) = self.peek() else {
            return Err(ParseError {
                offset: start,
                message: "a string ends with a lone `\\`".to_owned(),
            });
        };
        self.pos += kind.len_utf8();
        let resolved = match kind {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let high = self.hex4(start)?;
                if (0xDC00..0xE000).contains(&high) {
                    return Err(ParseError {
                        offset: start,
                        message: format!(
                            "`\\u{high:04x}` is the second half of a surrogate pair without its first half (\\ud800 to \\udbff)"
                        ),
                    });
                }
                let code = if (0xD800..0xDC00).contains(&high) {
                    let low_start = self.pos;
                    let low = if self.rest().starts_with("\\u") {
                        self.pos += 2;
                        Some(self.hex4(low_start)?)
                    } else {
                        None
                    };
                    match low {
                        Some(low) if (0xDC00..0xE000).contains(&low) => {
                            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                        }
                        _ => {
                            return Err(ParseError {
                                offset: start,
                                message: format!(
                                    "`\\u{high:04x}` is the first half of a surrogate pair, but no second half (\\udc00 to \\udfff) follows it"
                                ),
                            });
                        }
                    }
                } else {
                    high
                };
                // Not a surrogate, so always a char; the fallback is never used.
                char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER)
            }
            other => {
                return Err(ParseError {
                    offset: start,
                    message: format!(
                        "unknown escape `\\{}` in a string; JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX",
                        other.escape_debug()
                    ),
                });
            }
        };
        Ok(resolved)
    }

    /// The four hex digits of a `\u` escape that starts at `escape_start`.
    fn hex4(&mut self, escape_start: usize) -> Result<u32, ParseError> {
        let digits = self.rest().get(..4).unwrap_or_default();
        match u32::from_str_radix(digits, 16) {
            Ok(code) if digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.pos += 4;
                Ok(code)
            }
            _ => Err(ParseError {
                offset: escape_start,
                message: "a `\\u` escape needs four hex digits, as in `\\u00e9`".to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Object(entries) => entries,
            other => panic!("not an object: {other:?}"),
        }
    }

    fn error(text: &str) -> (usize, String) {
        let error = parse(text).unwrap_err();
        (error.offset, error.message)
    }

    #[test]
    fn values_keep_their_spans_and_text() {
        let text = r#" {"a": 416, "b" : [true, false, null, -1.5e+3], "c": {"d": "x"}, "a": 0}
"#;
        let root = parse(text).unwrap();
        assert_eq!(root.span, 1..text.len() - 1);
        let top = entries(&root);
        assert_eq!(
            top.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c", "a"]
        );
        assert_eq!(&text[top[0].key_span.clone()], "\"a\"");
        assert_eq!(top[0].value.value, Value::Number("416".into()));
        assert_eq!(&text[top[0].value.span.clone()], "416");
        let Value::List(items) = &top[1].value.value else {
            panic!("not a list")
        };
        assert_eq!(
            items.iter().map(|i| i.value.clone()).collect::<Vec<_>>(),
            [
                Value::Bool(true),
                Value::Bool(false),
                Value::Null,
                Value::Number("-1.5e+3".into())
            ]
        );
        assert_eq!(&text[items[3].span.clone()], "-1.5e+3");
        assert_eq!(&text[top[2].value.span.clone()], r#"{"d": "x"}"#);
        let inner = entries(&top[2].value);
        assert_eq!(&text[inner[0].value.span.clone()], r#""x""#);
        parse("{}").unwrap();
        parse("{\"a\":[]}").unwrap();
        parse("{\"n\": [0, -0, 0.5, 1E9, 2e-3]}").unwrap();
    }

    #[test]
    fn strings_are_json_strings_not_hcl_templates() {
        let text = r#"{"command": "curl -s -w '%{http_code}' http://x", "p": "\/tmp", "e": "\ud83d\ude00 \u00e9 \"q\" \\ \b\f\n\r\t", "t": "${x} $${y} %%{z}"}"#;
        let root = parse(text).unwrap();
        let values: Vec<_> = entries(&root)
            .iter()
            .map(|e| e.value.value.clone())
            .collect();
        assert_eq!(
            values,
            [
                Value::String("curl -s -w '%{http_code}' http://x".into()),
                Value::String("/tmp".into()),
                Value::String("😀 é \"q\" \\ \u{8}\u{c}\n\r\t".into()),
                Value::String("${x} $${y} %%{z}".into()),
            ]
        );
        let root = parse("{\"ü\": \"日本\"}").unwrap();
        assert_eq!(entries(&root)[0].key, "ü");
        assert_eq!(entries(&root)[0].value.span, 7..15);
    }

    #[test]
    fn not_json_is_refused_where_it_is() {
        assert_eq!(
            error("{\n  // note\n  \"a\": 1\n}"),
            (4, "JSON has no comments: remove this `//` comment".into())
        );
        assert_eq!(
            error("{\"a\": 1 /* x */}"),
            (
                8,
                "JSON has no comments: remove this `/* … */` comment".into()
            )
        );
        assert_eq!(
            error("# x\n{}"),
            (0, "JSON has no comments: remove this `#` comment".into())
        );
        assert_eq!(
            error("{\"a\": 1,}"),
            (7, "trailing comma: JSON allows no `,` before `}`".into())
        );
        assert_eq!(
            error("{\"a\": [1, 2, ]}"),
            (11, "trailing comma: JSON allows no `,` before `]`".into())
        );
        assert_eq!(
            error("{\"mode\" = \"0640\"}"),
            (
                8,
                "expected `:` after the key `mode`, found `=`; JSON writes \"mode\": value".into()
            )
        );
        assert_eq!(
            error("{mode: 1}"),
            (
                1,
                "expected a key in double quotes, found `mode`; JSON keys are quoted: \"mode\""
                    .into()
            )
        );
        assert_eq!(
            error("{\"mode\": \"0640\" \"path\": \"/t\"}"),
            (
                16,
                "expected `,` or `}` after the value of `mode`, found `\"`".into()
            )
        );
        assert_eq!(
            error("{\"a\": [1 2]}"),
            (
                9,
                "expected `,` or `]` after an item of the list, found `2`".into()
            )
        );
        assert_eq!(
            error("{\"a\": yes}"),
            (
                6,
                "expected a value after `\"a\":`, found the bare word `yes`; quote strings: \"yes\""
                    .into()
            )
        );
        assert_eq!(
            error("{\"a\": 'x'}"),
            (6, "JSON strings are quoted with `\"`, not with `'`".into())
        );
        assert_eq!(
            error("{\"a\": +1}"),
            (6, "expected a value after `\"a\":`, found `+`".into())
        );
        assert_eq!(
            error("{\"mode\": 0640}"),
            (9, "the number 0640 starts with 0, which JSON does not allow (JSON has no octal numbers); write a file mode as a string: \"0640\"".into())
        );
        assert_eq!(
            error("{\"a\": 1.}"),
            (
                8,
                "expected a digit after the `.` of a number, found `}`".into()
            )
        );
        assert_eq!(
            error("{\"a\": 1e}"),
            (
                8,
                "expected a digit in the exponent of a number, found `}`".into()
            )
        );
        assert_eq!(
            error("{\"a\": -}"),
            (7, "expected a digit after `-`, found `}`".into())
        );
        assert_eq!(
            error("{} {}"),
            (
                3,
                "unexpected `{` after the end of the top-level object".into()
            )
        );
        assert_eq!(
            error("{\"a\": \"x\ny\"}"),
            (
                6,
                "a string is never closed: expected `\"` before the end of the line".into()
            )
        );
        assert_eq!(
            error("{\"a\": \"x\ty\"}"),
            (8, "unexpected character U+0009 in a string; JSON strings hold control characters only as escapes: write `\\t`".into())
        );
        assert_eq!(
            error("{\"a\": \"\\q\"}"),
            (
                7,
                "unknown escape `\\q` in a string; JSON has \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX"
                    .into()
            )
        );
        assert_eq!(
            error("{\"a\": \"\\u12\"}"),
            (
                7,
                "a `\\u` escape needs four hex digits, as in `\\u00e9`".into()
            )
        );
        assert_eq!(
            error("{\"a\": \"\\u+123\"}"),
            (
                7,
                "a `\\u` escape needs four hex digits, as in `\\u00e9`".into()
            )
        );
        assert_eq!(
            error("{\"a\": \"\\ud83d x\"}").1,
            "`\\ud83d` is the first half of a surrogate pair, but no second half (\\udc00 to \\udfff) follows it"
        );
        assert_eq!(error("{\"a\": \"\\ud83d\\u0041\"}").0, 7);
        assert_eq!(
            error("{\"a\": \"\\ude00\"}").1,
            "`\\ude00` is the second half of a surrogate pair without its first half (\\ud800 to \\udbff)"
        );
        assert_eq!(
            error("{\"a\": 1\u{0}}"),
            (
                7,
                "expected `,` or `}` after the value of `a`, found character U+0000".into()
            )
        );
    }

    #[test]
    fn unclosed_brackets_point_at_the_opening_one() {
        let unclosed =
            "this `{` is never closed: expected a matching `}` before the end of the file";
        assert_eq!(error("{\n  \"a\": {\"b\": 1}\n"), (0, unclosed.into()));
        assert_eq!(error("{\"a\": {\"b\": 1"), (6, unclosed.into()));
        assert_eq!(error("{\"a\": {\"b\":"), (6, unclosed.into()));
        assert_eq!(error("{\"a\": {\"b\"  "), (6, unclosed.into()));
        assert_eq!(error("{\"a\": {"), (6, unclosed.into()));
        assert_eq!(
            error("{\"a\": [1, 2"),
            (
                6,
                "this `[` is never closed: expected a matching `]` before the end of the file"
                    .into()
            )
        );
        assert_eq!(
            error("{\"a"),
            (
                1,
                "a string is never closed: expected `\"` before the end of the line".into()
            )
        );
    }

    #[test]
    fn the_top_level_must_be_one_object() {
        let must = "a JSON config must be an object `{ … }`, found";
        assert_eq!(error("[]"), (0, format!("{must} a list")));
        assert_eq!(error("  \"x\""), (2, format!("{must} a string")));
        assert_eq!(error("42"), (0, format!("{must} a number")));
        assert_eq!(error("true"), (0, format!("{must} a boolean")));
        assert_eq!(error("null"), (0, format!("{must} null")));
        assert_eq!(error(""), (0, format!("{must} nothing")));
        assert_eq!(error("\n\t"), (2, format!("{must} nothing")));
        assert_eq!(error("x = 1"), (0, format!("{must} `x`")));
        assert_eq!(error("\u{feff}{}"), (0, format!("{must} character U+FEFF")));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 100_000;
        let (offset, message) = error(&format!("{{\"a\": {}{}}}", "[".repeat(n), "]".repeat(n)));
        assert_eq!((offset, message), (6 + MAX_DEPTH, too_deep()));
        let (offset, message) = error(&"{\"a\": ".repeat(n));
        assert_eq!((offset, message), ((MAX_DEPTH + 1) * 6, too_deep()));
        // 64 levels below the top-level object are fine.
        let text = format!(
            "{{\"a\": {}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        parse(&text).unwrap();
    }
}
