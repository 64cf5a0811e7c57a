//! consul-template's `toYAML`: `yaml.Marshal` from `gopkg.in/yaml.v2` (whose emitter is a port
//! of libyaml's), trimmed of surrounding white space, byte for byte.
//!
//! What users meet in secrets is reproduced as the Go emitter writes it: keys sorted in
//! yaml.v2's natural order (`key2` before `key10`), strings that would read back as another
//! type double-quoted, multi-line strings as literal blocks (`|`, `|-`, `|+`, with an
//! indentation indicator when they start with a space or a line break), long lines folded at
//! 80 columns, keys with line breaks or over 128 bytes written as `? key` / `: value`, and
//! characters outside libyaml's printable set escaped inside double quotes.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use gotmpl::Value;

/// libyaml's preferred line width: plain and quoted scalars fold at a space past it.
const BEST_WIDTH: usize = 80;
/// libyaml's limit for a key written on one line with its `:`.
const SIMPLE_KEY_MAX: usize = 128;

/// `yaml.Marshal(value)` with consul-template's `bytes.TrimSpace`.
pub(crate) fn yaml(value: &Value) -> Result<String, String> {
    let mut emitter = Emitter::default();
    match value {
        Value::Map(map) if !map.is_empty() => emitter.map(map, 0)?,
        Value::List(items) if !items.is_empty() => emitter.list(items, 0)?,
        scalar => {
            emitter.scalar(scalar, 1, false)?;
            emitter.end_line();
        }
    }
    Ok(emitter.out.trim().to_owned())
}

/// The output so far; indentation is counted in levels of two spaces.
#[derive(Default)]
struct Emitter {
    out: String,
}

impl Emitter {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
    }

    /// Ends the current line unless it is ended already.
    fn end_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// The column the next character lands in.
    fn column(&self) -> usize {
        let line = self.out.rfind('\n').map_or(0, |at| at + 1);
        self.out[line..].chars().count()
    }

    fn map(&mut self, map: &BTreeMap<Arc<str>, Value>, depth: usize) -> Result<(), String> {
        let mut entries: Vec<(&Arc<str>, &Value)> = map.iter().collect();
        entries.sort_by(|(a, _), (b, _)| natural_order(a, b));
        for (key, item) in entries {
            self.indent(depth);
            if key.len() <= SIMPLE_KEY_MAX && !key.chars().any(is_break) {
                self.string(key, depth + 1, true);
                self.out.push(':');
                self.value_after_key(item, depth)?;
            } else {
                // Not a simple key: `? key` on its own, then `: value`.
                self.out.push_str("? ");
                self.string(key, depth + 1, false);
                self.end_line();
                self.indent(depth);
                self.out.push(':');
                self.compact(item, depth)?;
            }
        }
        Ok(())
    }

    fn list(&mut self, items: &[Value], depth: usize) -> Result<(), String> {
        for item in items {
            self.indent(depth);
            self.out.push('-');
            self.compact(item, depth)?;
        }
        Ok(())
    }

    /// A node after `-` or a complex key's `:`: a collection starts on the same line.
    fn compact(&mut self, item: &Value, depth: usize) -> Result<(), String> {
        match item {
            Value::Map(map) if !map.is_empty() => {
                self.nested_on_this_line(depth, |e| e.map(map, depth + 1))
            }
            Value::List(inner) if !inner.is_empty() => {
                self.nested_on_this_line(depth, |e| e.list(inner, depth + 1))
            }
            scalar => {
                self.out.push(' ');
                self.scalar(scalar, depth + 1, false)?;
                self.end_line();
                Ok(())
            }
        }
    }

    /// Writes a nested collection whose first line continues the current one.
    fn nested_on_this_line(
        &mut self,
        depth: usize,
        write: impl FnOnce(&mut Emitter) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut nested = Emitter::default();
        write(&mut nested)?;
        self.out.push(' ');
        self.out.push_str(&nested.out[(depth + 1) * 2..]);
        Ok(())
    }

    fn value_after_key(&mut self, item: &Value, depth: usize) -> Result<(), String> {
        match item {
            Value::Map(map) if !map.is_empty() => {
                self.out.push('\n');
                self.map(map, depth + 1)
            }
            // yaml.v2 does not indent a list under its key.
            Value::List(items) if !items.is_empty() => {
                self.out.push('\n');
                self.list(items, depth)
            }
            scalar => {
                self.out.push(' ');
                self.scalar(scalar, depth + 1, false)?;
                self.end_line();
                Ok(())
            }
        }
    }

    /// A scalar whose continuation lines (folds, block contents) are indented `depth` levels.
    fn scalar(&mut self, value: &Value, depth: usize, simple_key: bool) -> Result<(), String> {
        match value {
            Value::Nil => self.out.push_str("null"),
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::Uint(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::Float(f) => self.out.push_str(&go_float_g(*f)),
            Value::String(text) => self.string(text, depth, simple_key),
            Value::Map(_) => self.out.push_str("{}"),
            Value::List(_) => self.out.push_str("[]"),
            Value::Function(_) => return Err("cannot marshal a function to YAML".to_owned()),
        }
        Ok(())
    }

    /// A string in the style yaml.v2 asks for and libyaml's emitter allows.
    fn string(&mut self, text: &str, depth: usize, simple_key: bool) {
        let indent = depth * 2;
        match style(text, simple_key) {
            Style::Plain => self.plain(text, indent, !simple_key),
            Style::SingleQuoted => self.single_quoted(text, indent, !simple_key),
            Style::DoubleQuoted => self.double_quoted(text, indent, !simple_key),
            Style::Literal => self.literal(text, indent),
        }
    }

    fn fold(&mut self, indent: usize) {
        self.out.push('\n');
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn plain(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        let mut column = self.column();
        let mut spaces = false;
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && column > BEST_WIDTH && chars.get(i + 1) != Some(&' ')
                {
                    self.fold(indent);
                    column = indent;
                } else {
                    self.out.push(' ');
                    column += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                column += 1;
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.out.push('\'');
        let mut column = self.column();
        let mut spaces = false;
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && column > BEST_WIDTH
                    && i != 0
                    && i + 1 != chars.len()
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.fold(indent);
                    column = indent;
                } else {
                    self.out.push(' ');
                    column += 1;
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.out.push('\'');
                    column += 1;
                }
                self.out.push(c);
                column += 1;
                spaces = false;
            }
        }
        self.out.push('\'');
    }

    fn double_quoted(&mut self, text: &str, indent: usize, allow_breaks: bool) {
        self.out.push('"');
        let mut column = self.column();
        let mut spaces = false;
        let chars: Vec<char> = text.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let before = self.out.len();
                escape(&mut self.out, c);
                column += self.out.len() - before;
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && column > BEST_WIDTH && i != 0 && i + 1 != chars.len()
                {
                    self.fold(indent);
                    column = indent;
                    if chars.get(i + 1) == Some(&' ') {
                        self.out.push('\\');
                        column += 1;
                    }
                } else {
                    self.out.push(' ');
                    column += 1;
                }
                spaces = true;
            } else {
                self.out.push(c);
                column += 1;
                spaces = false;
            }
        }
        self.out.push('"');
    }

    /// A literal block: `|`, an indentation indicator when the text starts with a space or a
    /// line break, and `-` (no final line break), nothing (one) or `+` (more) to keep them.
    fn literal(&mut self, text: &str, indent: usize) {
        self.out.push('|');
        let first = text.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.out.push('2');
        }
        let mut from_end = text.chars().rev();
        let last = from_end.next();
        let before_last = from_end.next();
        match (last, before_last) {
            (Some(last), _) if !is_break(last) => self.out.push('-'),
            (Some(_), None) => self.out.push('+'),
            (Some(_), Some(before)) if is_break(before) => self.out.push('+'),
            _ => {}
        }
        self.out.push('\n');
        let mut at_line_start = true;
        for c in text.chars() {
            if is_break(c) {
                self.out.push(c);
                at_line_start = true;
            } else {
                if at_line_start {
                    for _ in 0..indent {
                        self.out.push(' ');
                    }
                    at_line_start = false;
                }
                self.out.push(c);
            }
        }
    }
}

enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// yaml.v2 asks for a literal block when the text holds `\n`, double quotes when it would read
/// back as another type, plain otherwise; libyaml's emitter then falls back to quotes when the
/// asked style cannot hold the text.
fn style(text: &str, simple_key: bool) -> Style {
    let asked = if text.contains('\n') {
        Style::Literal
    } else if resolves_to_other_type(text) || is_base60_float(text) {
        Style::DoubleQuoted
    } else {
        Style::Plain
    };
    let allowed = Analysis::of(text);
    match asked {
        Style::Plain if !allowed.block_plain => {
            if allowed.single_quoted {
                Style::SingleQuoted
            } else {
                Style::DoubleQuoted
            }
        }
        Style::Literal if !allowed.block || simple_key => Style::DoubleQuoted,
        style => style,
    }
}

/// What libyaml's `yaml_emitter_analyze_scalar` finds a string allows.
struct Analysis {
    block_plain: bool,
    single_quoted: bool,
    block: bool,
}

impl Analysis {
    fn of(text: &str) -> Analysis {
        if text.is_empty() {
            return Analysis {
                block_plain: true,
                single_quoted: true,
                block: false,
            };
        }
        let chars: Vec<char> = text.chars().collect();
        let mut indicators = text.starts_with("---") || text.starts_with("...");
        let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
            (false, false, false, false);
        let (mut break_space, mut space_break, mut special, mut line_breaks) =
            (false, false, false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in chars.iter().enumerate() {
            let next = chars.get(i + 1).copied();
            let followed_by_whitespace = next.is_none_or(|n| n == ' ' || n == '\t' || is_break(n));
            let first = i == 0;
            let last = i + 1 == chars.len();
            if first {
                if "#,[]{}&*!|>'\"%@`".contains(c)
                    || (matches!(c, '?' | ':' | '-') && followed_by_whitespace)
                {
                    indicators = true;
                }
            } else if (c == ':' && followed_by_whitespace) || (c == '#' && preceded_by_whitespace) {
                indicators = true;
            }
            if !is_printable(c) {
                special = true;
            }
            if is_break(c) {
                line_breaks = true;
            }
            if c == ' ' {
                leading_space |= first;
                trailing_space |= last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                leading_break |= first;
                trailing_break |= last;
                space_break |= previous_space;
                previous_break = true;
                previous_space = false;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        }
        let mut analysis = Analysis {
            block_plain: true,
            single_quoted: true,
            block: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            analysis.block_plain = false;
        }
        if trailing_space {
            analysis.block = false;
        }
        if break_space {
            analysis.block_plain = false;
            analysis.single_quoted = false;
        }
        if space_break || special {
            analysis = Analysis {
                block_plain: false,
                single_quoted: false,
                block: false,
            };
        }
        if line_breaks || indicators {
            analysis.block_plain = false;
        }
        analysis
    }
}

/// libyaml's line breaks.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's printable set: no other control characters, no U+0085, no characters outside
/// the Basic Multilingual Plane (emoji are escaped), no byte-order mark.
fn is_printable(c: char) -> bool {
    let code = c as u32;
    c == '\n'
        || (0x20..=0x7e).contains(&code)
        || (0xa0..=0xd7ff).contains(&code)
        || ((0xe000..=0xfffd).contains(&code) && code != 0xfeff)
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` as yaml.v2 writes floats: the shortest digits, in
/// exponent form below 1e-4 or from 1e6 on (`1e+06`, `1.5e-05`), and `.inf`, `-.inf`, `.nan`.
fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let text = format!("{f:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    format!("{f}")
}

/// A character inside double quotes as libyaml escapes it.
fn escape(out: &mut String, c: char) {
    let short = match c {
        '\0' => "0",
        '\u{7}' => "a",
        '\u{8}' => "b",
        '\t' => "t",
        '\n' => "n",
        '\u{b}' => "v",
        '\u{c}' => "f",
        '\r' => "r",
        '\u{1b}' => "e",
        '"' => "\"",
        '\\' => "\\",
        '\u{85}' => "N",
        '\u{a0}' => "_",
        '\u{2028}' => "L",
        '\u{2029}' => "P",
        _ => "",
    };
    out.push('\\');
    if !short.is_empty() {
        out.push_str(short);
        return;
    }
    let code = c as u32;
    let _ = match code {
        0..=0xff => write!(out, "x{code:02X}"),
        0x100..=0xffff => write!(out, "u{code:04X}"),
        _ => write!(out, "U{code:08X}"),
    };
}

/// Whether yaml.v2 would read `text`, unquoted, as something other than a string: null,
/// booleans (YAML 1.1's `yes`, `on`, …), numbers as Go's `strconv` parses them (`0x1F`,
/// `0o17`, `017`, `1_000`, `1e3`), infinities, NaN, timestamps and the merge key.
fn resolves_to_other_type(text: &str) -> bool {
    const OTHER: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if OTHER.contains(&text) {
        return true;
    }
    let Some(first) = text.chars().next() else {
        return true;
    };
    if first == '.' {
        return is_go_float(text);
    }
    if !(first.is_ascii_digit() || matches!(first, '+' | '-')) {
        return false;
    }
    if is_timestamp(text) {
        return true;
    }
    let plain = text.replace('_', "");
    is_go_integer(&plain) || (is_yaml_style_float(&plain) && is_go_float(&plain))
}

/// `strconv.ParseInt(text, 0, 64)` or `ParseUint` succeeds (range aside).
fn is_go_integer(text: &str) -> bool {
    let unsigned = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    let (digits, radix) = if let Some(rest) = lower.strip_prefix("0x") {
        (rest, 16)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (rest, 2)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (rest, 8)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (&lower[1..], 8)
    } else {
        (lower.as_str(), 10)
    };
    !digits.is_empty()
        && digits.chars().all(|c| c.is_digit(radix))
        && u64::from_str_radix(digits, radix).is_ok()
}

/// yaml.v2's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

/// `strconv.ParseFloat` accepts it (the decimal forms yaml.v2 lets through).
fn is_go_float(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    !lower.contains("inf") && !lower.contains("nan") && text.parse::<f64>().is_ok()
}

/// yaml.v2's base-60 float check, which it quotes for YAML 1.1 readers: `1:20`, `-190:20:30.15`.
fn is_base60_float(text: &str) -> bool {
    let unsigned = text
        .strip_prefix('-')
        .or_else(|| text.strip_prefix('+'))
        .unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let mut parts = whole.split(':');
    let head = parts.next().unwrap_or_default();
    let head_ok = head.starts_with(|c: char| c.is_ascii_digit())
        && head.chars().all(|c| c.is_ascii_digit() || c == '_');
    let mut sexagesimal = 0;
    for part in parts {
        let ok = match part.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sexagesimal += 1;
    }
    head_ok
        && sexagesimal > 0
        && fraction.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit() || c == '_'))
}

/// yaml.v2's timestamps: `2006-1-2`, and with a time `2006-1-2T15:4:5.999999999Z07:00`,
/// `2006-1-2t15:4:5…` or `2006-1-2 15:4:5.999999999`, as Go's `time.Parse` reads them.
fn is_timestamp(text: &str) -> bool {
    fn number(text: &str, min: usize, max: usize) -> Option<(u32, &str)> {
        let end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        if end < min || end > max {
            return None;
        }
        Some((text[..end].parse().ok()?, &text[end..]))
    }
    let date = || -> Option<&str> {
        let (_, rest) = number(text, 4, 4)?;
        let (month, rest) = number(rest.strip_prefix('-')?, 1, 2)?;
        let (day, rest) = number(rest.strip_prefix('-')?, 1, 2)?;
        ((1..=12).contains(&month) && (1..=31).contains(&day)).then_some(rest)
    };
    let Some(rest) = date() else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let (zoned, rest) = match rest.chars().next() {
        Some('T' | 't') => (true, &rest[1..]),
        Some(' ') => (false, &rest[1..]),
        _ => return false,
    };
    let time = || -> Option<&str> {
        let (hour, rest) = number(rest, 1, 2)?;
        let (minute, rest) = number(rest.strip_prefix(':')?, 1, 2)?;
        let (second, mut rest) = number(rest.strip_prefix(':')?, 1, 2)?;
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        if let Some(fraction) = rest.strip_prefix('.') {
            let end = fraction
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(fraction.len());
            if end == 0 {
                return None;
            }
            rest = &fraction[end..];
        }
        Some(rest)
    };
    let Some(rest) = time() else {
        return false;
    };
    if !zoned {
        return rest.is_empty();
    }
    if rest == "Z" {
        return true;
    }
    let Some(offset) = rest.strip_prefix(['+', '-']) else {
        return false;
    };
    let bytes = offset.as_bytes();
    bytes.len() == 5 && bytes[2] == b':' && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit())
}

/// yaml.v2's key order: runs of digits compare as numbers (`key2` < `key10`), and where the
/// keys first differ a non-letter sorts before a letter.
fn natural_order(a: &str, b: &str) -> Ordering {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            continue;
        }
        let (a_letter, b_letter) = (a[i].is_alphabetic(), b[i].is_alphabetic());
        if a_letter && b_letter {
            return a[i].cmp(&b[i]);
        }
        if a_letter || b_letter {
            return if b_letter {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut a_number, mut b_number) = (0i64, 0i64);
        if a[i] == '0' || b[i] == '0' {
            // A zero inside a number that started earlier is a digit like any other.
            let mut j = i;
            while j > 0 && a[j - 1].is_ascii_digit() {
                j -= 1;
                if a[j] != '0' {
                    a_number = 1;
                    b_number = 1;
                    break;
                }
            }
        }
        let mut a_end = i;
        while a_end < a.len() && a[a_end].is_ascii_digit() {
            a_number = a_number
                .wrapping_mul(10)
                .wrapping_add(i64::from(a[a_end] as u8 - b'0'));
            a_end += 1;
        }
        let mut b_end = i;
        while b_end < b.len() && b[b_end].is_ascii_digit() {
            b_number = b_number
                .wrapping_mul(10)
                .wrapping_add(i64::from(b[b_end] as u8 - b'0'));
            b_end += 1;
        }
        if a_number != b_number {
            return a_number.cmp(&b_number);
        }
        if a_end != b_end {
            return a_end.cmp(&b_end);
        }
        return a[i].cmp(&b[i]);
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gotmpl::tmap;

    #[test]
    fn common_shapes_match_yaml_v2() {
        let value =
            tmap! { "user" => "app", "password" => "s3cr3t", "port" => "5432", "on" => "yes" };
        assert_eq!(
            yaml(&value).unwrap(),
            "\"on\": \"yes\"\npassword: s3cr3t\nport: \"5432\"\nuser: app"
        );
    }

    #[test]
    fn multi_line_strings_are_literal_blocks_wherever_they_are() {
        let value = tmap! {
            "list" => Value::List(vec!["a\nb".into(), " lead\nx".into(), "\n".into()].into()),
            "keep" => "a\n\n",
            "spacebreak" => "a \nb",
        };
        assert_eq!(
            yaml(&value).unwrap(),
            "keep: |+\n  a\n\nlist:\n- |-\n  a\n  b\n- |2-\n   lead\n  x\n- |2+\n\nspacebreak: \"a \\nb\""
        );
    }

    #[test]
    fn keys_sort_in_natural_order() {
        let mut keys = vec!["key10", "key2", "Key", "_x", "a1", "a01", "a"];
        keys.sort_by(|a, b| natural_order(a, b));
        assert_eq!(keys, ["_x", "Key", "a", "a1", "a01", "key2", "key10"]);
    }

    #[test]
    fn numbers_dates_and_escapes_resolve_as_yaml_v2_reads_them() {
        for quoted in [
            "0o17", "017", "0X1F", "1_000", "1e3", "-.5", "2024-1-2", "1:20",
        ] {
            assert!(
                resolves_to_other_type(quoted) || is_base60_float(quoted),
                "{quoted}"
            );
        }
        for plain in ["08x", "1:99", "2024-01-01x", "1.2.3", "0x", "e5"] {
            assert!(
                !resolves_to_other_type(plain) && !is_base60_float(plain),
                "{plain}"
            );
        }
        for (f, text) in [
            (1e6, "1e+06"),
            (1.5e-5, "1.5e-05"),
            (2.0, "2"),
            (123456.0, "123456"),
            (0.0001, "0.0001"),
            (-0.25, "-0.25"),
            (0.0, "0"),
        ] {
            assert_eq!(go_float_g(f), text);
        }
        assert_eq!(
            yaml(&tmap! { "e" => "😀\u{7}" }).unwrap(),
            "e: \"\\U0001F600\\a\""
        );
    }
}
