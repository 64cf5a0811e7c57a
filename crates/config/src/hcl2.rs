//! Turns hcl-rs's HCL2 syntax tree into the located [`Node`] tree. (JSON has its own parser,
//! [`crate::json`]: hcl-rs reads JSON as an HCL2 expression, which is not quite JSON.)
//!
//! Strings are taken from the source text rather than evaluated: a config is data, and
//! `${…}` inside a template or a command must reach it unchanged, as Vault Agent passes it.

use std::ops::Range;

use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::parser;
use hcl::edit::repr::Span;
use hcl::edit::structure::{Body, Structure};

use crate::syntax::{Entry, LineIndex, MAX_DEPTH, Node, Value, heredoc_body, too_deep, unescape};

/// A syntax error reported by hcl-rs.
#[derive(Debug, Clone)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Byte offset.
    pub offset: usize,
    /// hcl-rs's message.
    pub message: String,
}

impl From<parser::Error> for ParseError {
    fn from(error: parser::Error) -> Self {
        let location = error.location();
        ParseError {
            line: location.line(),
            column: location.column(),
            offset: location.offset(),
            message: error.message().to_owned(),
        }
    }
}

impl ParseError {
    fn at(text: &str, offset: usize, message: String) -> Self {
        let (line, column) = LineIndex::new(text).line_col(text, offset);
        ParseError {
            line,
            column,
            offset,
            message,
        }
    }
}

/// How deeply HCL2 brackets may nest before [`parse_body`] leaves the file to the HCL1 parser.
///
/// hcl-rs's parser backtracks through every level of an object left open after two binary
/// operators (`k = a/b/{` repeated), doubling its time with each level: 22 levels took 3.5 s
/// and 30 would take hours (found by the config fuzz target). Vault Agent configs nest 3 to 6
/// levels; at 16 the worst case costs about 0.1 s, and deeper files go to the HCL1 parser,
/// which is linear and reads every Vault Agent config.
pub const MAX_HCL2_BRACKET_DEPTH: usize = 16;

/// The deepest nesting of `{`, `[` and `(` in `text`, outside strings, comments and heredocs.
pub fn bracket_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |at| from + at);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'#' => i = line_end(i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = line_end(i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..]
                    .find("*/")
                    .map_or(text.len(), |at| i + 2 + at + 1);
            }
            b'<' if text[i..].starts_with("<<") => {
                let start = i + 2 + usize::from(bytes.get(i + 2) == Some(&b'-'));
                let word_end = line_end(start);
                let word = text[start..word_end].trim();
                if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    // Skip to the line that is the closing word.
                    let mut at = word_end;
                    while at < text.len() {
                        let next = line_end(at + 1);
                        if text[(at + 1).min(text.len())..next].trim() == word {
                            break;
                        }
                        at = next;
                    }
                    i = at;
                } else {
                    i += 1;
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// Parses an HCL2 file.
///
/// hcl-rs limits how deeply blocks and expressions nest, but not how many labels a block has,
/// and each label is one more level of the tree; a block whose labels would nest deeper than
/// [`MAX_DEPTH`] is refused here, so that no tree is deeper than the parsers allow.
pub fn parse_body(text: &str) -> Result<Node, ParseError> {
    let body = parser::parse_body(text)?;
    let entries =
        body_entries(&body, text, 0).map_err(|offset| ParseError::at(text, offset, too_deep()))?;
    Ok(Node {
        value: Value::Object(entries),
        span: 0..text.len(),
    })
}

/// The entries of a block body `depth` levels below the top; on a block nested too deeply,
/// the offset of the label (or block) that goes too deep.
fn body_entries(body: &Body, text: &str, depth: usize) -> Result<Vec<Entry>, usize> {
    body.iter()
        .map(|structure| match structure {
            Structure::Attribute(attribute) => {
                let key_span = span_of(&attribute.key);
                let mut value = expression_node(&attribute.value, text);
                if matches!(value.value, Value::Object(_)) {
                    // Messages about a block-like object point at its key.
                    value.span.start = key_span.start;
                }
                Ok(Entry {
                    key: attribute.key.as_str().to_owned(),
                    key_span,
                    value,
                })
            }
            Structure::Block(block) => {
                // `a "b" "c" { … }` is a = { b = { c = { … } } }: the body is one level deeper
                // than `a` for each label.
                let body_depth = depth + 1 + block.labels.len();
                if body_depth > MAX_DEPTH {
                    // Label `i` makes level `depth + 1 + i`; past the labels, the body's `{`.
                    let labels_end = block
                        .labels
                        .last()
                        .and_then(|label| label.span())
                        .unwrap_or_else(|| span_of(&block.ident))
                        .end;
                    let brace = text
                        .get(labels_end..)
                        .and_then(|rest| rest.find('{'))
                        .map_or(labels_end, |at| labels_end + at);
                    let offset = block
                        .labels
                        .get(MAX_DEPTH.saturating_sub(depth))
                        .and_then(|label| label.span())
                        .map_or(brace, |span| span.start);
                    return Err(offset);
                }
                // Messages about a block ("needs `contents`") point at its first line.
                let body_span = span_of(&block.ident).start..span_of(block).end;
                let mut value = Node {
                    value: Value::Object(body_entries(&block.body, text, body_depth)?),
                    span: body_span,
                };
                for label in block.labels.iter().rev() {
                    let key_span = label.span().unwrap_or_else(|| span_of(block));
                    let span = key_span.start..value.span.end;
                    value = Node {
                        value: Value::Object(vec![Entry {
                            key: label.as_str().to_owned(),
                            key_span,
                            value,
                        }]),
                        span,
                    };
                }
                Ok(Entry {
                    key: block.ident.as_str().to_owned(),
                    key_span: span_of(&block.ident),
                    value,
                })
            }
        })
        .collect()
}

fn expression_node(expression: &Expression, text: &str) -> Node {
    let span = span_of(expression);
    let source = text.get(span.clone()).unwrap_or_default();
    let value = match expression {
        Expression::Null(_) => Value::Null,
        Expression::Bool(value) => Value::Bool(*value.value()),
        Expression::Number(_) => Value::Number(source.trim().to_owned()),
        Expression::String(value) => Value::String(value.value().clone()),
        Expression::StringTemplate(_) => {
            let body = source
                .trim()
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(source);
            match unescape(body) {
                Ok(value) => Value::String(value),
                Err(_) => Value::Expression("a string template"),
            }
        }
        Expression::HeredocTemplate(_) => match heredoc_body(source.trim_start()) {
            Some(value) => Value::String(value),
            None => Value::Expression("a heredoc"),
        },
        Expression::Array(array) => Value::List(
            array
                .iter()
                .map(|item| expression_node(item, text))
                .collect(),
        ),
        Expression::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| {
                    let (key, key_span) = match key {
                        ObjectKey::Ident(ident) => (ident.as_str().to_owned(), span_of(ident)),
                        ObjectKey::Expression(expression) => {
                            let node = expression_node(expression, text);
                            let key = match node.value {
                                Value::String(key) => key,
                                _ => text.get(node.span.clone()).unwrap_or_default().to_owned(),
                            };
                            (key, node.span)
                        }
                    };
                    Entry {
                        key,
                        key_span,
                        value: expression_node(value.expr(), text),
                    }
                })
                .collect(),
        ),
        Expression::Parenthesis(inner) => return expression_node(inner.inner(), text),
        Expression::Variable(_) => Value::Expression("a bare word (an HCL2 variable)"),
        Expression::Conditional(_) => Value::Expression("a conditional expression"),
        Expression::FuncCall(_) => Value::Expression("a function call"),
        Expression::Traversal(_) => Value::Expression("an attribute traversal"),
        Expression::UnaryOp(_) | Expression::BinaryOp(_) => {
            Value::Expression("an arithmetic expression")
        }
        Expression::ForExpr(_) => Value::Expression("a for expression"),
    };
    Node { value, span }
}

fn span_of(item: &impl Span) -> Range<usize> {
    item.span().unwrap_or(0..0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bracket_depth_skips_strings_comments_and_heredocs() {
        assert_eq!(bracket_depth("a { b = [1, (2)] }"), 3);
        assert_eq!(
            bracket_depth("a = \"{{{{ \\\" {{\"\n# {{{{\n// [[[[\n/* (((( */ b {}"),
            1
        );
        assert_eq!(bracket_depth("t {\n  c = <<-EOT\n  {{{{{{\n  EOT\n}\n"), 1);
        assert_eq!(bracket_depth(&"k = a/b/{".repeat(30)), 30);
    }

    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // hcl-rs limits nested blocks and expressions itself.
        let n = 5_000;
        assert!(parse_body(&format!("{}{}", "a {".repeat(n), "}".repeat(n))).is_err());
        let n = 50_000;
        assert!(parse_body(&format!("a = {}{}", "[".repeat(n), "]".repeat(n))).is_err());
        // Labels it does not limit; each one nests the tree one level deeper, and dropping a
        // tree 100,000 levels deep would overflow the stack of a test thread.
        let text = format!("a {}{{}}", "\"b\" ".repeat(100_000));
        let error = parse_body(&text).unwrap_err();
        assert_eq!(
            (error.offset, error.message),
            (2 + MAX_DEPTH * 4, too_deep())
        );
        assert_eq!((error.line, error.column), (1, 3 + MAX_DEPTH * 4));
        // At the limit: 63 labels are fine, 64 put the body one level too deep.
        parse_body(&format!("a {}{{}}", "\"b\" ".repeat(MAX_DEPTH - 1))).unwrap();
        let error = parse_body(&format!("a {}{{}}", "\"b\" ".repeat(MAX_DEPTH))).unwrap_err();
        assert_eq!(error.offset, 2 + MAX_DEPTH * 4);
        let error =
            parse_body(&format!("x {{\n  a {}{{}}\n}}", "\"b\" ".repeat(MAX_DEPTH))).unwrap_err();
        assert_eq!(error.offset, 8 + (MAX_DEPTH - 1) * 4, "the 64th label");
    }
}
