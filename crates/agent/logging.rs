//! Log set-up: tracing to stderr, human-readable or one JSON object per line.
//!
//! The JSON lines have the shape of Vault Agent's (hclog's): `@level`, `@message`, `@module`,
//! `@timestamp`, then the event's fields, so log pipelines written for Vault Agent keep working.
//!
//! The level comes from `-log-level`, then `BAO_LOG_LEVEL`/`VAULT_LOG_LEVEL`, then `log_level`
//! in the config, then `info`. Colours are used only on a terminal, so journald and container
//! logs get plain text.

use std::io::IsTerminal;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{LogFormat, LogLevel};

/// Standard error that never fails: a log collector that went away (a broken pipe) or a full
/// disk must not take the agent down with it.
struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Changes the log level of the running process (after a reload).
pub type LevelSetter = Box<dyn Fn(LogLevel) + Send + Sync>;

fn targets(level: LogLevel) -> Targets {
    let filter = match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    // Our own crates log at the chosen level; the HTTP stack's chatter ("connecting to …")
    // only shows at trace.
    let dependencies = if filter == LevelFilter::TRACE {
        LevelFilter::TRACE
    } else {
        filter.min(LevelFilter::INFO)
    };
    Targets::new()
        .with_default(dependencies)
        .with_target("vaultward", filter)
}

/// Installs the global subscriber; returns a way to change its level later.
pub fn init(level: LogLevel, format: LogFormat) -> LevelSetter {
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(|| Stderr)
        .with_target(false);
    match format {
        LogFormat::Standard => {
            let (filter, handle) = reload::Layer::new(targets(level));
            let _ = builder
                .with_ansi(std::io::stderr().is_terminal())
                .finish()
                .with(filter)
                .try_init();
            Box::new(move |level| {
                let _ = handle.reload(targets(level));
            })
        }
        LogFormat::Json => {
            let (filter, handle) = reload::Layer::new(targets(level));
            let _ = builder
                .event_format(HclogJson)
                .finish()
                .with(filter)
                .try_init();
            Box::new(move |level| {
                let _ = handle.reload(targets(level));
            })
        }
    }
}

/// One JSON object per event, with hclog's keys (sorted, as Go's encoder writes a map).
struct HclogJson;

impl<S, N> FormatEvent<S, N> for HclogJson
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut fields = Fields(serde_json::Map::new());
        event.record(&mut fields);
        let mut object = fields.0;
        let message = object
            .remove("message")
            .unwrap_or(serde_json::Value::String(String::new()));
        let metadata = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        object.insert(
            "@level".to_owned(),
            metadata.level().as_str().to_ascii_lowercase().into(),
        );
        object.insert("@message".to_owned(), message);
        object.insert(
            "@module".to_owned(),
            metadata
                .target()
                .replace("::", ".")
                .replacen("vaultward_", "vaultward.", 1)
                .into(),
        );
        object.insert("@timestamp".to_owned(), timestamp.into());
        writeln!(writer, "{}", serde_json::Value::Object(object))
    }
}

/// An event's fields as JSON values.
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

/// Parses a level name from the environment or the config.
pub fn parse_level(name: &str) -> Option<LogLevel> {
    match name.to_ascii_lowercase().as_str() {
        "trace" => Some(LogLevel::Trace),
        "debug" => Some(LogLevel::Debug),
        "info" | "notice" => Some(LogLevel::Info),
        "warn" | "warning" => Some(LogLevel::Warn),
        "error" | "err" => Some(LogLevel::Error),
        _ => None,
    }
}

/// Parses a format name from the environment or the config.
pub fn parse_format(name: &str) -> Option<LogFormat> {
    match name.to_ascii_lowercase().as_str() {
        "standard" => Some(LogFormat::Standard),
        "json" => Some(LogFormat::Json),
        _ => None,
    }
}
