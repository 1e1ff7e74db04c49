//! Output shared by the commands: rkt-style tab-aligned tables, human sizes and times, JSON.

use std::io::{self, Write};

use chrono::{DateTime, Local, TimeZone};
use tabwriter::TabWriter;

/// A table printed like rkt's (`tabwriter` with one tab of padding), with an optional legend.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str], legend: bool) -> Table {
        let rows = if legend {
            vec![header.iter().map(|s| s.to_string()).collect()]
        } else {
            Vec::new()
        };
        Table { rows }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(self) -> io::Result<()> {
        // Buffered: tabwriter hands over one line at a time, and stdout would write each.
        let out = io::BufWriter::new(io::stdout().lock());
        let mut tw = TabWriter::new(out).padding(1).minwidth(0);
        for row in self.rows {
            writeln!(tw, "{}", row.join("\t"))?;
        }
        tw.flush()
    }
}

/// Sizes in IEC units as rkt prints them (`12 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// "3 minutes ago", as rkt's humanized times.
pub fn human_ago(unix_nanos: u128, now_nanos: u128) -> String {
    let secs = now_nanos.saturating_sub(unix_nanos) / 1_000_000_000;
    let (n, unit) = match secs {
        0 => return "now".to_string(),
        1..=59 => (secs, "second"),
        60..=3599 => (secs / 60, "minute"),
        3600..=86_399 => (secs / 3600, "hour"),
        86_400..=2_591_999 => (secs / 86_400, "day"),
        2_592_000..=31_535_999 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// rkt's `--full` time layout: `2006-01-02 15:04:05.999 -0700 MST`.
pub fn full_time(unix_nanos: u128) -> String {
    let secs = (unix_nanos / 1_000_000_000) as i64;
    let nanos = (unix_nanos % 1_000_000_000) as u32;
    match Local.timestamp_opt(secs, nanos).single() {
        Some(t) => format_full(&t),
        None => unix_nanos.to_string(),
    }
}

fn format_full(t: &DateTime<Local>) -> String {
    let millis = t.format("%.3f").to_string();
    let millis = millis.trim_end_matches('0').trim_end_matches('.');
    // chrono knows offsets, not zone abbreviations; UTC is the one worth naming.
    let zone = if t.offset().local_minus_utc() == 0 {
        "UTC".to_string()
    } else {
        t.format("%:z").to_string()
    };
    format!(
        "{}{} {} {zone}",
        t.format("%Y-%m-%d %H:%M:%S"),
        millis,
        t.format("%z")
    )
}

/// A progress bar on stderr for reading large images, only when stderr is a terminal.
pub struct ProgressBar(indicatif::ProgressBar);

impl ProgressBar {
    pub fn for_terminal() -> Option<std::sync::Arc<dyn stage0::fetch::Progress>> {
        use std::io::IsTerminal;
        if !io::stderr().is_terminal() {
            return None;
        }
        let bar = indicatif::ProgressBar::hidden();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Some(std::sync::Arc::new(ProgressBar(bar)))
    }
}

impl stage0::fetch::Progress for ProgressBar {
    fn start(&self, what: &str, total: u64) {
        let style = indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        self.0.set_style(style);
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(what.to_string());
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Write JSON compact or pretty, as `--format=json|json-pretty`, then a newline, straight to
/// `out` (no intermediate string).
pub fn write_json(
    mut out: impl Write,
    value: &impl serde::Serialize,
    pretty: bool,
) -> anyhow::Result<()> {
    if pretty {
        serde_json::to_writer_pretty(&mut out, value)?;
    } else {
        serde_json::to_writer(&mut out, value)?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Print JSON compact or pretty, as `--format=json|json-pretty`.
pub fn print_json(value: &impl serde::Serialize, pretty: bool) -> anyhow::Result<()> {
    write_json(io::BufWriter::new(io::stdout().lock()), value, pretty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12 * 1024 * 1024 + 1), "12 MiB");
    }

    #[test]
    fn ages() {
        let s = 1_000_000_000u128;
        assert_eq!(human_ago(0, 0), "now");
        assert_eq!(human_ago(0, s), "1 second ago");
        assert_eq!(human_ago(0, 125 * s), "2 minutes ago");
        assert_eq!(human_ago(0, 3 * 86_400 * s), "3 days ago");
        assert_eq!(human_ago(10 * s, 0), "now");
    }
}
