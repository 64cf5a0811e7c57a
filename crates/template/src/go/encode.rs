//! Go's encodings of template values, byte for byte: `encoding/json` (what consul-template's
//! `toJSON`, `toJSONPretty` and their unescaped forms print) and a `gopkg.in/yaml.v2`-style
//! emitter for `toYAML`.
//!
//! Maps print with their keys sorted (Go sorts map keys; gotmpl's maps are sorted already).
//! Go's `json.Marshal` escapes `<`, `>` and `&` as `\u003c`, `\u003e` and `\u0026` unless
//! HTML escaping is turned off, and U+2028 / U+2029 always.

use std::fmt::Write as _;

use gotmpl::Value;

/// `json.Marshal` (`escape_html`) or an `Encoder` with `SetEscapeHTML(false)`; `indent` is
/// `MarshalIndent(v, "", "  ")`'s.
pub(crate) fn json(value: &Value, escape_html: bool, indent: bool) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, value, escape_html, indent, 0)?;
    Ok(out)
}

fn write_json(
    out: &mut String,
    value: &Value,
    escape_html: bool,
    indent: bool,
    depth: usize,
) -> Result<(), String> {
    let newline = |out: &mut String, depth: usize| {
        if indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str("  ");
            }
        }
    };
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Uint(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Float(f) => out.push_str(&go_float(*f)?),
        Value::String(s) => json_string(out, s, escape_html),
        Value::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(out, item, escape_html, indent, depth + 1)?;
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Map(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_string(out, key, escape_html);
                out.push(':');
                if indent {
                    out.push(' ');
                }
                write_json(out, item, escape_html, indent, depth + 1)?;
            }
            newline(out, depth);
            out.push('}');
        }
        Value::Function(_) => return Err("json: unsupported type: func".to_owned()),
    }
    Ok(())
}

/// A float as Go's `encoding/json` writes it: the shortest representation, in exponent form
/// only below 1e-6 or from 1e21 on.
fn go_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {f}"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: `-1.5e-07`, `1e+21` (two exponent digits at least).
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent),
        };
        return Ok(format!("{mantissa}e{sign}{digits:0>2}"));
    }
    Ok(format!("{f}"))
}

fn json_string(out: &mut String, text: &str, escape_html: bool) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `yaml.Marshal` from `gopkg.in/yaml.v2`, trimmed as consul-template's `toYAML` trims it.
pub(crate) fn yaml(value: &Value) -> Result<String, String> {
    let mut out = String::new();
    match value {
        Value::Map(map) if !map.is_empty() => yaml_map(&mut out, map, 0)?,
        Value::List(items) if !items.is_empty() => yaml_list(&mut out, items, 0)?,
        scalar => {
            out.push_str(&yaml_scalar(scalar)?);
            out.push('\n');
        }
    }
    Ok(out.trim().to_owned())
}

fn yaml_map(
    out: &mut String,
    map: &std::collections::BTreeMap<std::sync::Arc<str>, Value>,
    depth: usize,
) -> Result<(), String> {
    for (key, item) in map.iter() {
        push_indent(out, depth);
        out.push_str(&yaml_string(key));
        out.push(':');
        yaml_value_after_key(out, item, depth)?;
    }
    Ok(())
}

fn yaml_list(out: &mut String, items: &[Value], depth: usize) -> Result<(), String> {
    for item in items {
        push_indent(out, depth);
        out.push('-');
        match item {
            Value::Map(map) if !map.is_empty() => {
                // yaml.v2 writes the first key on the dash's line.
                let mut nested = String::new();
                yaml_map(&mut nested, map, depth + 1)?;
                out.push(' ');
                out.push_str(nested.trim_start());
            }
            Value::List(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_list(out, inner, depth + 1)?;
            }
            scalar => {
                out.push(' ');
                out.push_str(&yaml_scalar(scalar)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

fn yaml_value_after_key(out: &mut String, item: &Value, depth: usize) -> Result<(), String> {
    match item {
        Value::Map(map) if !map.is_empty() => {
            out.push('\n');
            yaml_map(out, map, depth + 1)
        }
        // yaml.v2 does not indent a list under its key.
        Value::List(items) if !items.is_empty() => {
            out.push('\n');
            yaml_list(out, items, depth)
        }
        Value::String(text)
            if text.contains('\n')
                && !text.starts_with(' ')
                && !text.chars().any(|c| c != '\n' && yaml_special_char(c))
                && !text.contains(" \n") =>
        {
            // A multi-line string is a literal block: `|-` without a final line break, `|`
            // with one, `|+` with more.
            let trailing = text.len() - text.trim_end_matches('\n').len();
            let chomp = match trailing {
                0 => "-",
                1 => "",
                _ => "+",
            };
            out.push_str(&format!(" |{chomp}\n"));
            for line in text.trim_end_matches('\n').split('\n') {
                if !line.is_empty() {
                    push_indent(out, depth + 1);
                    out.push_str(line);
                }
                out.push('\n');
            }
            Ok(())
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar)?);
            out.push('\n');
            Ok(())
        }
    }
}

fn push_indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn yaml_scalar(value: &Value) -> Result<String, String> {
    Ok(match value {
        Value::Nil => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Uint(n) => n.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e21 {
                format!("{f:.0}")
            } else {
                format!("{f}")
            }
        }
        Value::String(text) => yaml_string(text),
        Value::Map(_) => "{}".to_owned(),
        Value::List(_) => "[]".to_owned(),
        Value::Function(_) => return Err("cannot marshal a function to YAML".to_owned()),
    })
}

/// A string as yaml.v2 writes it: plain when it reads back as the same string and the emitter
/// allows it, single-quoted when only its spaces or indicators are in the way, double-quoted
/// when it would read back as another type (`"true"`, `"5432"`) or holds control characters.
fn yaml_string(text: &str) -> String {
    if yaml_resolves_to_other_type(text) || text.chars().any(yaml_special_char) {
        return yaml_double_quoted(text);
    }
    if yaml_plain_allowed(text) {
        return text.to_owned();
    }
    format!("'{}'", text.replace('\'', "''"))
}

fn yaml_double_quoted(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            '\0' => quoted.push_str("\\0"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(quoted, "\\x{:02X}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// Characters libyaml's emitter cannot write outside double quotes.
fn yaml_special_char(c: char) -> bool {
    let code = c as u32;
    !(c == '\n'
        || (0x20..=0x7e).contains(&code)
        || code == 0x85
        || (code >= 0xa0 && c != '\u{feff}'))
}

/// Whether yaml.v2 would read `text`, unquoted, as something other than a string.
fn yaml_resolves_to_other_type(text: &str) -> bool {
    const OTHER: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if OTHER.contains(&text) {
        return true;
    }
    let first = text.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || matches!(first, '+' | '-' | '.')) {
        return false;
    }
    let plain = text.replace('_', "");
    let unsigned = plain.trim_start_matches(['+', '-']);
    let integer = if let Some(hex) = unsigned.strip_prefix("0x") {
        !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
    } else if let Some(binary) = unsigned.strip_prefix("0b") {
        !binary.is_empty() && binary.chars().all(|c| c == '0' || c == '1')
    } else {
        !unsigned.is_empty() && unsigned.chars().all(|c| c.is_ascii_digit())
    };
    let float = plain.parse::<f64>().is_ok()
        && !plain.eq_ignore_ascii_case("inf")
        && !plain.to_ascii_lowercase().contains("inf")
        && !plain.to_ascii_lowercase().contains("nan");
    // A date or timestamp (`2001-12-14`, `2001-12-14T21:59:43Z`) resolves to a timestamp.
    let bytes = text.as_bytes();
    let date = bytes.len() >= 10
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[5..7].iter().all(u8::is_ascii_digit)
        && bytes[8..10].iter().all(u8::is_ascii_digit);
    // A sexagesimal number (`1:20`, `190:20:30.15`).
    let base60 = text.contains(':')
        && text.trim_start_matches(['+', '-']).split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '_' || c == '.')
        });
    integer || float || date || base60
}

/// libyaml's rules for a plain scalar in block context.
fn yaml_plain_allowed(text: &str) -> bool {
    if text.is_empty()
        || text.starts_with("---")
        || text.starts_with("...")
        || text.starts_with(' ')
        || text.ends_with(' ')
    {
        return false;
    }
    let chars: Vec<char> = text.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_space = next.is_none_or(|n| n == ' ');
        if i == 0 {
            if matches!(
                c,
                '#' | ','
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '&'
                    | '*'
                    | '!'
                    | '|'
                    | '>'
                    | '\''
                    | '"'
                    | '%'
                    | '@'
                    | '`'
            ) {
                return false;
            }
            if matches!(c, '?' | ':' | '-') && followed_by_space {
                return false;
            }
        } else {
            if *c == ':' && followed_by_space {
                return false;
            }
            if *c == '#' && chars[i - 1] == ' ' {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use gotmpl::tmap;

    #[test]
    fn json_matches_go() {
        let value = tmap! { "b" => "x<y>&\"z\"\n", "a" => 1i64, "c" => 1.5f64 };
        assert_eq!(
            json(&value, true, false).unwrap(),
            r#"{"a":1,"b":"x\u003cy\u003e\u0026\"z\"\n","c":1.5}"#
        );
        assert_eq!(
            json(&value, false, false).unwrap(),
            r#"{"a":1,"b":"x<y>&\"z\"\n","c":1.5}"#
        );
        assert_eq!(
            json(&value, true, true).unwrap(),
            "{\n  \"a\": 1,\n  \"b\": \"x\\u003cy\\u003e\\u0026\\\"z\\\"\\n\",\n  \"c\": 1.5\n}"
        );
        assert_eq!(json(&tmap! {}, true, true).unwrap(), "{}");
        assert_eq!(go_float(1e21).unwrap(), "1e+21");
        assert_eq!(go_float(1.5e-7).unwrap(), "1.5e-07");
        assert_eq!(go_float(100.0).unwrap(), "100");
    }

    #[test]
    fn yaml_matches_yaml_v2_for_common_shapes() {
        let value =
            tmap! { "user" => "app", "password" => "s3cr3t", "port" => "5432", "on" => "yes" };
        assert_eq!(
            yaml(&value).unwrap(),
            "\"on\": \"yes\"\npassword: s3cr3t\nport: \"5432\"\nuser: app"
        );
    }
}
