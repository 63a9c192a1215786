//! Log records through `tracing`: to the journal when its socket exists (udev helper mode),
//! else to stderr. The CLI's reference-compatible stdout lines are not log records.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// stderr only (the CLI).
    Stderr,
    /// The journal when available, plus stderr (which udevd keeps in its debug log).
    JournalAndStderr,
}

/// The level `-v` repetitions select on top of `base`.
pub fn level_for(base: LevelFilter, verbose: u8) -> LevelFilter {
    match verbose {
        0 => base,
        1 => base.max(LevelFilter::INFO),
        _ => LevelFilter::DEBUG,
    }
}

/// Installs the global subscriber. Returns whether the journal is used.
///
/// On the command line ([`Sink::Stderr`]) records are printed as `kpartx: <message>` lines,
/// the style of every other CLI diagnostic; in helper mode udevd keeps stderr in its debug
/// log, so the level and fields are kept there.
pub fn init(sink: Sink, level: LevelFilter) -> bool {
    match sink {
        Sink::Stderr => {
            let _ = tracing_subscriber::registry()
                .with(CliLines.with_filter(level))
                .try_init();
            false
        }
        Sink::JournalAndStderr => {
            let journal = tracing_journald::layer()
                .ok()
                .map(|l| l.with_syslog_identifier("kpartx".to_string()));
            let using_journal = journal.is_some();
            let stderr = fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_target(false)
                .without_time();
            let _ = tracing_subscriber::registry()
                .with(stderr.with_filter(level))
                .with(journal.with_filter(level))
                .try_init();
            using_journal
        }
    }
}

/// Writes each record as one `kpartx: message (field=value …)` line on stderr.
struct CliLines;

impl<S: tracing::Subscriber> Layer<S> for CliLines {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut line = CliLine::default();
        event.record(&mut line);
        let fields = if line.fields.is_empty() {
            String::new()
        } else {
            format!(" ({})", line.fields.join(" "))
        };
        crate::errln!("kpartx: {}{fields}", line.message);
    }
}

#[derive(Default)]
struct CliLine {
    message: String,
    fields: Vec<String>,
}

impl tracing::field::Visit for CliLine {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.push(format!("{}={value}", field.name()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_the_level() {
        assert_eq!(level_for(LevelFilter::WARN, 0), LevelFilter::WARN);
        assert_eq!(level_for(LevelFilter::WARN, 1), LevelFilter::INFO);
        assert_eq!(level_for(LevelFilter::ERROR, 2), LevelFilter::DEBUG);
        assert_eq!(level_for(LevelFilter::DEBUG, 1), LevelFilter::DEBUG);
    }
}
