//! Checks gotmpl does not make: blocks balanced and every function known, before a Go
//! template is accepted.
//!
//! gotmpl 0.6 accepts an unclosed `{{ if }}` silently, truncates the output at a stray
//! `{{ end }}` and reports an undefined function only when the template runs. Go's
//! `text/template` refuses all three when it parses, so vaultward does too: [`blocks`] scans the
//! actions (skipping strings, raw strings, characters and comments) and [`functions`] walks
//! the parsed tree.
//!
//! [`secret_fields`] catches the typo Vault Agent users meet most, `.data.password` or
//! `.Data.password` for `.Data.data.password`: inside `{{ with secret … }}` the dot is a
//! consul-template `Secret`, a struct whose unknown fields Go refuses when the template runs
//! ("can't evaluate field data"), where gotmpl's maps would print `<no value>`.

use gotmpl::parse::{BranchNode, CommandNode, Expr, ListNode, Node, PipeNode};

/// One `{{ … }}` action: its text between the delimiters (trim markers removed and spaces
/// trimmed) and the byte offset of its `{{` (turned into a line and column only for a message).
pub(crate) struct Action<'a> {
    pub(crate) text: &'a str,
    offset: usize,
}

/// Line and column (1-based, in characters) of byte `offset` of `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The actions of `text`, or where an action is never closed.
fn actions(text: &str) -> Result<Vec<Action<'_>>, String> {
    match scan(text) {
        (found, None) => Ok(found),
        (_, Some(start)) => {
            let (line, column) = line_col(text, start);
            Err(format!(
                "line {line}, column {column}: the action `{{{{` is never closed with `}}}}`"
            ))
        }
    }
}

/// The actions of `text` (skipping strings, raw strings, characters and comments inside them),
/// and the offset of an action that is never closed, where the scan stopped.
pub(crate) fn scan(text: &str) -> (Vec<Action<'_>>, Option<usize>) {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find("{{") {
        let start = at + open;
        let mut i = start + 2;
        let mut inner_start = i;
        if bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_whitespace) {
            inner_start = i + 1;
            i += 1;
        }
        let mut end = None;
        while i < bytes.len() {
            match bytes[i] {
                b'"' | b'\'' => {
                    let quote = bytes[i];
                    i += 1;
                    while i < bytes.len() && bytes[i] != quote && bytes[i] != b'\n' {
                        if bytes[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                b'`' => {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => match text[i + 2..].find("*/") {
                    Some(close) => i = i + 2 + close + 2,
                    None => i = bytes.len(),
                },
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    end = Some(i);
                    break;
                }
                _ => i += 1,
            }
        }
        let Some(close) = end else {
            return (found, Some(start));
        };
        let mut inner_end = close;
        if close > inner_start
            && bytes[close - 1] == b'-'
            && close >= 2
            && bytes[close - 2].is_ascii_whitespace()
        {
            inner_end = close - 1;
        }
        found.push(Action {
            text: text[inner_start..inner_end.max(inner_start)].trim(),
            offset: start,
        });
        at = close + 2;
    }
    (found, None)
}

/// Checks that every `if`, `with`, `range`, `define` and `block` has its `end`, that no `end`
/// or `else` stands alone, and that every action is closed.
pub(crate) fn blocks(text: &str) -> Result<(), String> {
    let mut open: Vec<(&str, usize)> = Vec::new();
    for action in actions(text)? {
        let place = || {
            let (line, column) = line_col(text, action.offset);
            format!("line {line}, column {column}")
        };
        if action.text.starts_with("/*") {
            continue;
        }
        let keyword = action
            .text
            .split(|c: char| c.is_whitespace() || c == '(' || c == '"')
            .next()
            .unwrap_or_default();
        match keyword {
            "if" | "with" | "range" | "define" | "block" => open.push((keyword, action.offset)),
            "end" if open.pop().is_none() => {
                return Err(format!(
                    "{}: `{{{{ end }}}}` closes a block that was never opened",
                    place()
                ));
            }
            "else"
                if !open
                    .last()
                    .is_some_and(|(kind, ..)| matches!(*kind, "if" | "with" | "range")) =>
            {
                return Err(format!(
                    "{}: `{{{{ else }}}}` outside an `if`, `with` or `range` block",
                    place()
                ));
            }
            _ => {}
        }
    }
    if let Some((kind, offset)) = open.last() {
        let (line, column) = line_col(text, *offset);
        return Err(format!(
            "line {line}, column {column}: `{{{{ {kind} }}}}` is never closed with `{{{{ end }}}}`"
        ));
    }
    Ok(())
}

/// The functions a template calls, with the line of each call, in order.
pub(crate) fn functions(
    tree: &ListNode,
    defines: &[gotmpl::parse::DefineNode],
) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    list(tree, &mut found);
    for define in defines {
        list(&define.body, &mut found);
    }
    found
}

fn list(list_node: &ListNode, found: &mut Vec<(String, usize)>) {
    for node in &list_node.nodes {
        match node {
            Node::List(inner) => list(inner, found),
            Node::Action(action) => pipe(&action.pipe, found),
            Node::If(branch) | Node::With(branch) => self::branch(branch, found),
            Node::Range(range) => self::branch(range, found),
            Node::Template(template) => {
                if let Some(p) = &template.pipe {
                    pipe(p, found);
                }
            }
            Node::Define(define) => list(&define.body, found),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
}

fn branch(branch: &BranchNode, found: &mut Vec<(String, usize)>) {
    pipe(&branch.pipe, found);
    list(&branch.body, found);
    if let Some(else_body) = &branch.else_body {
        list(else_body, found);
    }
}

fn pipe(pipe_node: &PipeNode, found: &mut Vec<(String, usize)>) {
    for command in &pipe_node.commands {
        self::command(command, found);
    }
}

fn command(command: &CommandNode, found: &mut Vec<(String, usize)>) {
    for arg in &command.args {
        expr(arg, found);
    }
}

fn expr(expression: &Expr, found: &mut Vec<(String, usize)>) {
    match expression {
        Expr::Identifier(pos, name) => found.push((name.to_string(), pos.line)),
        Expr::Pipe(_, inner) => pipe(inner, found),
        Expr::Chain(_, inner, _) => expr(inner, found),
        _ => {}
    }
}

/// The fields of consul-template's `Secret`.
pub(crate) const SECRET_FIELDS: &[&str] = &[
    "Auth",
    "Data",
    "LeaseDuration",
    "LeaseID",
    "Renewable",
    "RequestID",
    "Warnings",
    "WrapInfo",
];

/// Fields read from the dot of a `{{ with secret … }}` body that a secret does not have, with
/// their lines. Bodies of blocks nested in it that move the dot (`with`, `range`) and its
/// `else` are not the secret's.
pub(crate) fn secret_fields(
    tree: &ListNode,
    defines: &[gotmpl::parse::DefineNode],
) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    dots(tree, false, &mut found);
    for define in defines {
        dots(&define.body, false, &mut found);
    }
    found
}

fn is_secret_call(pipe: &PipeNode) -> bool {
    matches!(
        pipe.commands.as_slice(),
        [command] if matches!(command.args.first(), Some(Expr::Identifier(_, name)) if name == "secret")
    )
}

fn dots(list_node: &ListNode, on_secret: bool, found: &mut Vec<(String, usize)>) {
    for node in &list_node.nodes {
        match node {
            Node::List(inner) => dots(inner, on_secret, found),
            Node::Action(action) => secret_pipe(&action.pipe, on_secret, found),
            Node::If(branch) => {
                secret_pipe(&branch.pipe, on_secret, found);
                dots(&branch.body, on_secret, found);
                if let Some(else_body) = &branch.else_body {
                    dots(else_body, on_secret, found);
                }
            }
            Node::With(branch) => {
                secret_pipe(&branch.pipe, on_secret, found);
                dots(&branch.body, is_secret_call(&branch.pipe), found);
                if let Some(else_body) = &branch.else_body {
                    dots(else_body, on_secret, found);
                }
            }
            Node::Range(range) => {
                secret_pipe(&range.pipe, on_secret, found);
                dots(&range.body, false, found);
                if let Some(else_body) = &range.else_body {
                    dots(else_body, on_secret, found);
                }
            }
            Node::Template(template) => {
                if let Some(p) = &template.pipe {
                    secret_pipe(p, on_secret, found);
                }
            }
            Node::Define(define) => dots(&define.body, false, found),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
}

fn secret_pipe(pipe_node: &PipeNode, on_secret: bool, found: &mut Vec<(String, usize)>) {
    if !on_secret {
        return;
    }
    for command in &pipe_node.commands {
        for arg in &command.args {
            secret_expr(arg, found);
        }
    }
}

fn secret_expr(expression: &Expr, found: &mut Vec<(String, usize)>) {
    match expression {
        Expr::Field(pos, chain) => {
            if let Some(first) = chain.first()
                && !SECRET_FIELDS.contains(&first.as_str())
            {
                found.push((first.to_string(), pos.line));
            }
        }
        Expr::Pipe(_, inner) => secret_pipe(inner, true, found),
        Expr::Chain(_, inner, _) => secret_expr(inner, found),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_blocks_pass() {
        for text in [
            "plain",
            "{{ with secret \"a\" }}{{ .Data }}{{ end }}",
            "{{- if .X -}}a{{ else if .Y }}b{{ else }}c{{- end }}",
            "{{ range $k, $v := .M }}{{ $k }}{{ end }}",
            "{{/* {{ if }} */}}",
            "{{ \"}}\" }}{{ `{{ end }}` }}",
            "{{ define \"x\" }}y{{ end }}{{ template \"x\" }}",
        ] {
            assert_eq!(blocks(text), Ok(()), "{text}");
        }
    }

    #[test]
    fn unbalanced_blocks_are_named_with_their_place() {
        assert_eq!(
            blocks("a\n  {{ if true }}b").unwrap_err(),
            "line 2, column 3: `{{ if }}` is never closed with `{{ end }}`"
        );
        assert_eq!(
            blocks("a{{ end }}b").unwrap_err(),
            "line 1, column 2: `{{ end }}` closes a block that was never opened"
        );
        assert_eq!(
            blocks("{{ else }}").unwrap_err(),
            "line 1, column 1: `{{ else }}` outside an `if`, `with` or `range` block"
        );
        assert_eq!(
            blocks("x\n{{ .Data").unwrap_err(),
            "line 2, column 1: the action `{{` is never closed with `}}`"
        );
    }

    fn fields_of(text: &str) -> Vec<(String, usize)> {
        let (tree, defines) = gotmpl::parse::Parser::new(text, "{{", "}}")
            .and_then(|parser| parser.parse())
            .unwrap();
        secret_fields(&tree, &defines)
    }

    #[test]
    fn unknown_fields_of_a_secret_are_found_only_where_the_dot_is_the_secret() {
        assert_eq!(
            fields_of("{{ with secret \"a\" }}\n{{ .data.password }}{{ end }}"),
            [("data".to_owned(), 2)]
        );
        for fine in [
            "{{ with secret \"a\" }}{{ .Data.data.x }}{{ .LeaseDuration }}{{ end }}",
            "{{ with secret \"a\" }}{{ range $k, $v := .Data.data }}{{ .x }}{{ end }}{{ end }}",
            "{{ with secret \"a\" }}{{ with .Data.data }}{{ .password }}{{ end }}{{ end }}",
            "{{ with secret \"a\" }}x{{ else }}{{ .Other }}{{ end }}",
            "{{ with .Values }}{{ .data }}{{ end }}",
        ] {
            assert_eq!(fields_of(fine), [], "{fine}");
        }
        assert_eq!(
            fields_of(
                "{{ with secret \"a\" }}{{ if .Password }}{{ printf \"%s\" (.Data).x }}{{ end }}{{ end }}"
            ),
            [("Password".to_owned(), 1)]
        );
    }
}
