//! A small parser for HCL1, the dialect Vault itself reads.
//!
//! hcl-rs parses HCL2, which rejects some files that Vault Agent accepts and that users copy
//! from blog posts and Kubernetes examples: quoted top-level keys (`"auto_auth" = { … }`), a key
//! repeated to make a list (`"template" = { … }` twice), and blocks nested inside `= { … }`
//! objects. When hcl-rs rejects a file, it is parsed again with this parser, which accepts the
//! whole HCL1 object grammar:
//!
//! ```text
//! body  := (item [","])*
//! item  := key+ ("=" value | object)         -- `a "b" { … }` nests as a = { b = { … } }
//! key   := IDENT | STRING
//! value := STRING | NUMBER | "true" | "false" | "null" | HEREDOC | list | object
//! list  := "[" (value [","])* "]"
//! object:= "{" body "}"
//! ```
//!
//! Comments are `#`, `//` and `/* … */`. Numbers are kept as written (`0640` stays octal for
//! the decoder). Strings keep `${…}` verbatim; Vault does not evaluate them either.

use crate::syntax::{
    Entry, MAX_DEPTH, Node, Value, describe_char, heredoc_body, too_deep, unescape,
};

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    /// Byte offset of the error in the source.
    pub offset: usize,
    /// What was wrong, e.g. "expected `=` or `{` after the key `auto_auth`".
    pub message: String,
}

/// Parses a whole HCL1 file into an object node.
pub fn parse(text: &str) -> Result<Node, ParseError> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let entries = parser.body(None)?;
    parser.skip_trivia()?;
    if parser.pos < text.len() {
        return Err(parser.error(format!("unexpected {}", parser.describe_here())));
    }
    Ok(Node {
        value: Value::Object(entries),
        span: 0..text.len(),
    })
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
    /// How many objects and lists enclose the current position (the file's body is 0). Each
    /// label of a block (`a "b" "c" { … }`) counts as one more level, as it nests in the tree.
    depth: usize,
}

impl<'t> Parser<'t> {
    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: self.pos,
            message: message.into(),
        }
    }

    /// Goes one level deeper at the current position (a `{` or a `[`), or refuses to
    /// go deeper than [`MAX_DEPTH`]; the recursion stays far from the end of the stack.
    fn enter(&mut self) -> Result<(), ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(too_deep()));
        }
        self.depth += 1;
        Ok(())
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

    /// Skips whitespace, newlines and comments.
    fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with('#') || trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if let Some(comment) = trimmed.strip_prefix("/*") {
                match comment.find("*/") {
                    Some(end) => self.pos += end + 4,
                    None => return Err(self.error("a `/*` comment is never closed with `*/`")),
                }
            } else {
                return Ok(());
            }
        }
    }

    /// Parses items until `}` (when `opened_at` is the offset of its `{`) or the end of file.
    fn body(&mut self, opened_at: Option<usize>) -> Result<Vec<Entry>, ParseError> {
        let closing = opened_at.map(|_| '}');
        let mut entries = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                None => match opened_at {
                    None => return Ok(entries),
                    Some(offset) => {
                        return Err(ParseError {
                            offset,
                            message: "this `{` is never closed: expected a matching `}` before the end of the file".to_owned(),
                        });
                    }
                },
                Some('}') if closing.is_none() => {
                    return Err(self.error("unexpected `}`: there is no `{` for it to close"));
                }
                Some(c) if Some(c) == closing => return Ok(entries),
                Some(',') => {
                    self.pos += 1;
                    continue;
                }
                Some(_) => entries.push(self.item()?),
            }
        }
    }

    fn item(&mut self) -> Result<Entry, ParseError> {
        let mut keys = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some('"') => {
                    self.check_label_depth(keys.len())?;
                    let start = self.pos;
                    let key = self.string()?;
                    keys.push((key, start..self.pos));
                }
                Some(c) if is_ident_start(c) => {
                    self.check_label_depth(keys.len())?;
                    let start = self.pos;
                    let key = self.ident().to_owned();
                    keys.push((key, start..self.pos));
                }
                Some('=' | ':') if !keys.is_empty() => {
                    self.pos += 1;
                    let labels = keys.len() - 1;
                    self.depth += labels;
                    let value = self.value()?;
                    self.depth -= labels;
                    return Ok(nest(keys, value));
                }
                Some('{') if !keys.is_empty() => {
                    let labels = keys.len() - 1;
                    self.depth += labels;
                    let value = self.object()?;
                    self.depth -= labels;
                    return Ok(nest(keys, value));
                }
                _ if keys.is_empty() => {
                    return Err(
                        self.error(format!("expected a key, found {}", self.describe_here()))
                    );
                }
                _ if keys.len() >= 2
                    && matches!(keys[keys.len() - 1].0.as_str(), "true" | "false" | "null") =>
                {
                    let (value, span) = &keys[keys.len() - 1];
                    let key = &keys[keys.len() - 2].0;
                    return Err(ParseError {
                        offset: span.start,
                        message: format!(
                            "missing `=` between `{key}` and its value: write `{key} = {value}`"
                        ),
                    });
                }
                _ => {
                    let last = keys.last().map(|(key, _)| key.as_str()).unwrap_or_default();
                    return Err(self.error(format!(
                        "expected `=` or `{{` after the key `{last}`, found {}",
                        self.describe_here()
                    )));
                }
            }
        }
    }

    /// A key after `keys_before` others is a label, which nests one level deeper.
    fn check_label_depth(&self, keys_before: usize) -> Result<(), ParseError> {
        if self.depth + keys_before > MAX_DEPTH {
            return Err(self.error(too_deep()));
        }
        Ok(())
    }

    fn value(&mut self) -> Result<Node, ParseError> {
        self.skip_trivia()?;
        let start = self.pos;
        let value = match self.peek() {
            Some('"') => Value::String(self.string()?),
            Some('{') => return self.object(),
            Some('[') => {
                self.enter()?;
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_trivia()?;
                    match self.peek() {
                        Some(']') => {
                            self.pos += 1;
                            self.depth -= 1;
                            break;
                        }
                        Some(',') => self.pos += 1,
                        None => return Err(self.error("a `[` is never closed: expected `]`")),
                        Some(_) => items.push(self.value()?),
                    }
                }
                Value::List(items)
            }
            Some('<') if self.rest().starts_with("<<") => Value::String(self.heredoc()?),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() || c == '.' => {
                let len = self
                    .rest()
                    .char_indices()
                    .skip(1)
                    .find(|(_, c)| {
                        !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
                    })
                    .map_or(self.rest().len(), |(i, _)| i);
                let raw = &self.rest()[..len];
                self.pos += len;
                Value::Number(raw.to_owned())
            }
            Some(c) if is_ident_start(c) => {
                match self.ident() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => {
                        self.pos = start;
                        let word: String = self
                            .rest()
                            .chars()
                            .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | '}' | ']'))
                            .collect();
                        return Err(self.error(format!("expected a value, found the bare word `{word}`; quote strings: \"{word}\"")));
                    }
                }
            }
            _ => {
                return Err(self.error(format!("expected a value, found {}", self.describe_here())));
            }
        };
        Ok(Node {
            value,
            span: start..self.pos,
        })
    }

    fn object(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        self.enter()?;
        self.pos += 1; // `{`
        let entries = self.body(Some(start))?;
        self.pos += 1; // `}`
        self.depth -= 1;
        Ok(Node {
            value: Value::Object(entries),
            span: start..self.pos,
        })
    }

    fn ident(&mut self) -> &'t str {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
            .map_or(rest.len(), |(i, _)| i);
        self.pos += len;
        &self.text[self.pos - len..self.pos]
    }

    /// Reads a quoted string; `${ … }` may contain quotes, as in HCL1.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut index = self.pos + 1;
        let mut interpolation_depth = 0usize;
        while index < bytes.len() {
            match bytes[index] {
                b'\\' => index += 2,
                b'$' if bytes.get(index + 1) == Some(&b'{') => {
                    interpolation_depth += 1;
                    index += 2;
                }
                b'}' if interpolation_depth > 0 => {
                    interpolation_depth -= 1;
                    index += 1;
                }
                b'"' if interpolation_depth == 0 => {
                    let body = &self.text[start + 1..index];
                    self.pos = index + 1;
                    return unescape(body).map_err(|message| ParseError {
                        offset: start,
                        message,
                    });
                }
                b'\n' if interpolation_depth == 0 => break,
                _ => index += 1,
            }
        }
        Err(ParseError {
            offset: start,
            message: "a string is never closed: expected `\"` before the end of the line"
                .to_owned(),
        })
    }

    fn heredoc(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let marker_len = if rest.starts_with("<<-") { 3 } else { 2 };
        let Some(newline) = rest.find('\n') else {
            return Err(self.error("a heredoc needs its text on the lines after `<<EOT`"));
        };
        let delimiter = rest[marker_len..newline].trim();
        if delimiter.is_empty() || !delimiter.chars().all(|c| c.is_alphanumeric() || c == '_') {
            return Err(self.error("a heredoc starts with `<<` and a word, e.g. `<<EOT`"));
        }
        let mut offset = newline + 1;
        loop {
            let line_end = rest[offset..].find('\n').map_or(rest.len(), |i| offset + i);
            if rest[offset..line_end].trim() == delimiter {
                self.pos = start + line_end;
                return heredoc_body(&rest[..line_end])
                    .ok_or_else(|| self.error("malformed heredoc"));
            }
            if line_end >= rest.len() {
                return Err(self.error(format!(
                    "a heredoc is never closed: expected a line `{delimiter}`"
                )));
            }
            offset = line_end + 1;
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// `a "b" = v` becomes `a = { b = v }`. A block-like object's span starts at its first key,
/// so messages about the block point at its first line.
fn nest(mut keys: Vec<(String, std::ops::Range<usize>)>, mut value: Node) -> Entry {
    if matches!(value.value, Value::Object(_))
        && let Some((_, first)) = keys.first()
    {
        value.span.start = first.start;
    }
    while keys.len() > 1 {
        let (key, key_span) = keys.pop().unwrap_or_default();
        let span = key_span.start..value.span.end;
        value = Node {
            value: Value::Object(vec![Entry {
                key,
                key_span,
                value,
            }]),
            span,
        };
    }
    let (key, key_span) = keys.pop().unwrap_or_default();
    Entry {
        key,
        key_span,
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(node: &Node) -> Vec<&str> {
        match &node.value {
            Value::Object(entries) => entries.iter().map(|e| e.key.as_str()).collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn quoted_style_with_repeated_keys() {
        let text = r#"
"auto_auth" = {
  "method" = { "type" = "approle", "config" = { role_id_file_path = "/r" } }
}
# comment
"template" = { "contents" = "{{x \"y\"}} ${a \"b\"}" }
"template" = { contents = <<EOT
line ${x}
EOT
}
mode = 0640
"#;
        let root = parse(text).unwrap();
        assert_eq!(keys(&root), ["auto_auth", "template", "template", "mode"]);
        let Value::Object(entries) = &root.value else {
            unreachable!()
        };
        assert_eq!(entries[3].value.value, Value::Number("0640".into()));
        let Value::Object(template) = &entries[1].value.value else {
            unreachable!()
        };
        assert_eq!(
            template[0].value.value,
            Value::String("{{x \"y\"}} ${a \"b\"}".into())
        );
        let Value::Object(template) = &entries[2].value.value else {
            unreachable!()
        };
        assert_eq!(template[0].value.value, Value::String("line ${x}\n".into()));
    }

    #[test]
    fn labelled_blocks_nest() {
        let root = parse(r#"auto_auth { method "approle" { mount_path = "auth/x" } }"#).unwrap();
        let Value::Object(top) = &root.value else {
            unreachable!()
        };
        let Value::Object(auto_auth) = &top[0].value.value else {
            unreachable!()
        };
        assert_eq!(auto_auth[0].key, "method");
        assert_eq!(keys(&auto_auth[0].value), ["approle"]);
    }

    #[test]
    fn errors_carry_offsets() {
        let error = parse("a = {\n b = \"x\n}").unwrap_err();
        assert_eq!(error.offset, 11);
        assert!(error.message.contains("never closed"), "{}", error.message);
        let error = parse("exit_after_auth true").unwrap_err();
        assert_eq!(error.offset, 16);
        assert!(
            error
                .message
                .starts_with("missing `=` between `exit_after_auth`"),
            "{}",
            error.message
        );
        let error = parse(
            "a {
 b = 1
",
        )
        .unwrap_err();
        assert_eq!(
            (
                error.offset,
                error.message.starts_with("this `{` is never closed")
            ),
            (2, true)
        );
        let error = parse(
            "a = 1
}",
        )
        .unwrap_err();
        assert_eq!(error.offset, 6);
        // Characters that cannot be seen are named.
        let error = parse("a = 1\n\u{1}").unwrap_err();
        assert_eq!(
            (error.offset, error.message.as_str()),
            (6, "expected a key, found character U+0001")
        );
        let error = parse("a = 1 \u{200b}}").unwrap_err();
        assert_eq!(error.message, "expected a key, found character U+200B");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Each case would overflow the stack of a test thread without the limit.
        let n = 10_000;
        let error = parse(&format!("{}{}", "\"a\" = {".repeat(n), "}".repeat(n))).unwrap_err();
        assert_eq!(error.message, too_deep());
        assert_eq!(error.offset, MAX_DEPTH * 7 + 6, "the 65th `{{`");
        let n = 50_000;
        let error = parse(&format!("a = {}{}", "[".repeat(n), "]".repeat(n))).unwrap_err();
        assert_eq!((error.offset, error.message), (4 + MAX_DEPTH, too_deep()));
        let n = 5_000;
        let error = parse(&format!("{}{}", "a {".repeat(n), "}".repeat(n))).unwrap_err();
        assert_eq!(
            (error.offset, error.message),
            (MAX_DEPTH * 3 + 2, too_deep())
        );
        // Labels nest too: `a "b" "b" … {}` is a = { b = { b = … } }.
        let error = parse(&format!("a {}{{}}", "\"b\" ".repeat(100_000))).unwrap_err();
        assert_eq!(
            (error.offset, error.message),
            (2 + MAX_DEPTH * 4, too_deep())
        );
        let error = parse(&format!("a {}= 1", "b ".repeat(100_000))).unwrap_err();
        assert_eq!(
            (error.offset, error.message),
            (2 + MAX_DEPTH * 2, too_deep())
        );
        // Exactly the limit is fine, whether by objects, lists or labels.
        let n = MAX_DEPTH;
        parse(&format!(
            "a = {}{}",
            "{ b = ".repeat(n - 1),
            "[1]".to_owned() + &"}".repeat(n - 1)
        ))
        .unwrap();
        parse(&format!("{}{}", "a {".repeat(n), "}".repeat(n))).unwrap();
        parse(&format!("a {}{{}}", "\"b\" ".repeat(n - 1))).unwrap();
        parse(&format!("a {}{{}}", "\"b\" ".repeat(n))).unwrap_err();
    }
}
