//! Reports over time (issue 13): a 10-year monthly series (120 points) in one pass against
//! a single report, the target being at most 5x, and against the report asked once per
//! step. On the demo and on a synthetic ledger, from the live projection (what the server
//! answers from), median of several runs each, printed with their ratios from one run.
//!
//! `cargo bench --bench series -- [EVENTS]` (default 200000; the synthetic ledger is
//! generated once under target/).

mod allocator;
mod common;

use std::time::{Duration, Instant};

use common::{ensure_ledger, fail, machine, median, number, verdict};
use orgledger::event::Date;
use orgledger::generate;
use orgledger::ledger::{Ledger, LedgerOptions};
use orgledger::projection::reports;
use orgledger::projection::series::{self, Interval};
use orgledger::projection::timeline::At;
use orgledger::projection::Projection;

const SEED: u64 = 7;
const RUNS: usize = 7;

fn timed<T>(mut f: impl FnMut() -> T) -> Duration {
    let times = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(f());
            started.elapsed()
        })
        .collect();
    median(times)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn measure(label: &str, p: &Projection) {
    let seq = p.head().seq;
    let from = Date::parse("2005-01-31").expect("a date");
    let to = Date::parse("2014-12-31").expect("a date");
    let dates = series::steps(from, to, Interval::Month).expect("steps");
    let last = At { date: to, seq };
    println!("{label}: {} events, {} points from {from} to {to}", seq, dates.len());

    let one = timed(|| reports::coverage(p, last));
    let line = timed(|| series::coverage_over_time(p, &dates, seq, None).expect("a series"));
    let per_step = timed(|| {
        dates
            .iter()
            .map(|&date| reports::coverage(p, At { date, seq }).counts.with_member)
            .sum::<u64>()
    });
    let ratio = line.as_secs_f64() / one.as_secs_f64();
    println!("  coverage report, once              {}", ms(one));
    println!(
        "  coverageOverTime, 120 points       {}  = {ratio:.2}x one report (target <= 5x: {})",
        ms(line),
        verdict(ratio <= 5.0)
    );
    println!(
        "  coverage report asked per point    {}  = {:.1}x the series",
        ms(per_step),
        per_step.as_secs_f64() / line.as_secs_f64()
    );

    let one = timed(|| reports::temporary_activity(p, last));
    let line = timed(|| series::temporary_activity_over_time(p, &dates, seq));
    let ratio = line.as_secs_f64() / one.as_secs_f64();
    println!("  temporaryActivity report, once     {}", ms(one));
    println!(
        "  temporaryActivityOverTime          {}  = {ratio:.2}x one report (target <= 5x: {})",
        ms(line),
        verdict(ratio <= 5.0)
    );

    // The standardization programme, where the ledger has it (the demo's 03-da-tu).
    let programme = orgledger::event::Id::parse(orgledger::demo::STANDARDIZATION_PROGRAMME).expect("an id");
    if p.instruments.contains_key(&programme) {
        let one = timed(|| reports::standardization(p, &programme, last).expect("the report"));
        let line = timed(|| series::standardization_over_time(p, &programme, &dates, seq).expect("a series"));
        let ratio = line.as_secs_f64() / one.as_secs_f64();
        println!("  standardization report, once       {}", ms(one));
        println!(
            "  standardizationOverTime            {}  = {ratio:.2}x one report (target <= 5x: {})",
            ms(line),
            verdict(ratio <= 5.0)
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut events: u64 = 200_000;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--generate-into" => {
                let dir =
                    std::path::PathBuf::from(args.next().unwrap_or_else(|| fail("--generate-into needs DIR EVENTS")));
                let n = number(&args.next().unwrap_or_else(|| fail("--generate-into needs DIR EVENTS")));
                let head = generate::write_ledger(&dir, n, SEED).unwrap_or_else(|e| fail(&e.to_string()));
                println!("{{\"events\":{},\"head\":\"{}\"}}", head.seq, head.hash.to_hex());
                return;
            }
            "--bench" => {}
            "--help" => {
                println!("cargo bench --bench series -- [EVENTS] (default 200000)");
                return;
            }
            other => events = number(other),
        }
    }
    println!("{}", machine());
    let demo = tempfile::tempdir().unwrap_or_else(|e| fail(&e.to_string()));
    orgledger::demo::write_demo(demo.path()).unwrap_or_else(|e| fail(&e.to_string()));
    {
        let ledger = Ledger::open(demo.path(), LedgerOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
        measure("the demo", &ledger.projection());
        ledger.close();
    }
    let dir = ensure_ledger(events);
    let ledger = Ledger::open(&dir, LedgerOptions::default()).unwrap_or_else(|e| fail(&e.to_string()));
    measure("synthetic", &ledger.projection());
    ledger.close();
}
