//! Go's `encoding/json` for template values, byte for byte: what consul-template's `toJSON`,
//! `toJSONPretty` and their unescaped forms print (`toYAML` is in `yaml.rs`).
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
/// only below 1e-6 or from 1e21 on, with a positive exponent of two digits at least and a
/// negative one as short as it is (`1e+21`, `1e-7`: Go cleans `e-07` up to `e-7`).
fn go_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {f}"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        return Ok(match exponent.strip_prefix('-') {
            Some(digits) => format!("{mantissa}e-{digits}"),
            None => format!("{mantissa}e+{exponent:0>2}"),
        });
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
        assert_eq!(go_float(1.5e-7).unwrap(), "1.5e-7");
        assert_eq!(go_float(1e-10).unwrap(), "1e-10");
        assert_eq!(go_float(100.0).unwrap(), "100");
    }
}
