//! Progress of long work: a bar on stderr when a person watches a terminal (indicatif), lines
//! through `tracing` in a server, or nothing. The way is chosen once per process by `main`,
//! as the tracing subscriber is, so the work itself (a verify, an export, a replay) reports
//! to a [`Meter`] without knowing who looks; nothing it reports ever reaches stdout.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanCount, HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How the process shows progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Nothing (the default: a library user, a test, `--quiet`, stderr not a terminal).
    Off,
    /// A bar on stderr, redrawn in place (a command run at a terminal).
    Bar,
    /// A `tracing` line every few seconds and at the end (a server's start-up work).
    Log,
}

static MODE: AtomicU8 = AtomicU8::new(0);

/// Sets how this process shows progress, from now on.
pub fn set_mode(mode: Mode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

/// How this process shows progress.
pub fn mode() -> Mode {
    match MODE.load(Ordering::Relaxed) {
        1 => Mode::Bar,
        2 => Mode::Log,
        _ => Mode::Off,
    }
}

/// The mode for a command run by a person: a bar when stderr is a terminal and `--quiet`
/// was not given.
pub fn mode_for_terminal(quiet: bool) -> Mode {
    if !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        Mode::Bar
    } else {
        Mode::Off
    }
}

/// Between two progress lines in [`Mode::Log`].
const LOG_EVERY: Duration = Duration::from_secs(2);

/// What a meter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Events,
    Bytes,
}

/// One piece of long work: its name, how much there is (if known) and how much is done.
/// Dropped, it takes its bar off the terminal (or logs its last line).
pub struct Meter {
    what: String,
    unit: Unit,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    log: Option<LogState>,
}

/// A meter's state in [`Mode::Log`].
struct LogState {
    done: AtomicU64,
    started: Instant,
    /// When the last line was logged, and the count at which to look at the clock again.
    last: Mutex<(Instant, u64)>,
}

impl Meter {
    /// A meter of `total` events (`None` if not known), named for what is being done
    /// ("verifying the chain").
    pub fn events(what: impl Into<String>, total: Option<u64>) -> Meter {
        Meter::new(what.into(), Unit::Events, total)
    }

    /// A meter of `total` bytes read (`None` if not known).
    pub fn bytes(what: impl Into<String>, total: Option<u64>) -> Meter {
        Meter::new(what.into(), Unit::Bytes, total)
    }

    fn new(what: String, unit: Unit, total: Option<u64>) -> Meter {
        let (bar, log) = match mode() {
            Mode::Off => (None, None),
            Mode::Bar => (Some(bar(&what, unit, total)), None),
            Mode::Log => {
                let now = Instant::now();
                (
                    None,
                    Some(LogState {
                        done: AtomicU64::new(0),
                        started: now,
                        last: Mutex::new((now, 0)),
                    }),
                )
            }
        };
        Meter {
            what,
            unit,
            total,
            bar,
            log,
        }
    }

    /// `n` more done.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
        if let Some(log) = &self.log {
            let done = log.done.fetch_add(n, Ordering::Relaxed) + n;
            self.maybe_log(log, done);
        }
    }

    /// `done` in all, so far.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if let Some(log) = &self.log {
            log.done.store(done, Ordering::Relaxed);
            self.maybe_log(log, done);
        }
    }

    /// A short note shown beside the bar (a count of events while bytes are read).
    pub fn note(&self, note: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{} ({})", self.what, note.into()));
        }
    }

    /// Logs a line when [`LOG_EVERY`] has passed since the last; the clock is read at most
    /// once per 4,096 units, so a meter costs nearly nothing in a tight loop.
    fn maybe_log(&self, log: &LogState, done: u64) {
        let Ok(mut last) = log.last.try_lock() else { return };
        if done < last.1 {
            return;
        }
        last.1 = done + 4096;
        let now = Instant::now();
        if now.duration_since(last.0) >= LOG_EVERY {
            last.0 = now;
            drop(last);
            tracing::info!("{}", self.line(done, now.duration_since(log.started)));
        }
    }

    /// "verifying the chain: 1,200,000 of 10,000,000 events (330,000/s, 27s left)".
    fn line(&self, done: u64, elapsed: Duration) -> String {
        let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
        let unit = match self.unit {
            Unit::Events => "events",
            Unit::Bytes => "bytes",
        };
        let mut line = match self.total {
            Some(total) => format!("{}: {} of {} {unit}", self.what, HumanCount(done), HumanCount(total)),
            None => format!("{}: {} {unit}", self.what, HumanCount(done)),
        };
        line.push_str(&format!(" ({}/s", HumanCount(rate as u64)));
        if let Some(total) = self.total.filter(|&t| t > done && rate > 0.0) {
            let left = Duration::from_secs_f64((total - done) as f64 / rate);
            line.push_str(&format!(", {} left", HumanDuration(left)));
        }
        line.push(')');
        line
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(log) = &self.log {
            let done = log.done.load(Ordering::Relaxed);
            if done > 0 {
                tracing::info!(
                    "{} in {:.1} s",
                    self.line(done, log.started.elapsed()),
                    log.started.elapsed().as_secs_f64()
                );
            }
        }
    }
}

/// A bar on stderr, drawn at once so that even short work shows it was there.
fn bar(what: &str, unit: Unit, total: Option<u64>) -> ProgressBar {
    let template = match (unit, total) {
        (Unit::Events, Some(_)) => "{msg} [{bar:30}] {human_pos}/{human_len} events, {per_sec}, {eta} left",
        (Unit::Events, None) => "{spinner} {msg}: {human_pos} events, {per_sec}",
        (Unit::Bytes, Some(_)) => "{msg} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left",
        (Unit::Bytes, None) => "{spinner} {msg}: {bytes}, {bytes_per_sec}",
    };
    let style = ProgressStyle::with_template(template)
        .expect("the templates are valid")
        .progress_chars("=> ");
    let bar = match total {
        Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar.tick();
    bar
}
