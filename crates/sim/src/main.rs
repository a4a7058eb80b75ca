//! `iat-sim`: generate an organisation's CloudTrail, or serve it as CloudTrail `LookupEvents`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use chrono::{Duration, NaiveDate};
use clap::{Parser, Subcommand};
use iat_sim::lookup::{SimConfig, Simulator, load_trail_files};
use iat_sim::{OrgConfig, generate};
use rand::{Rng, SeedableRng};

/// CloudTrail simulator for tests, benchmarks and demos.
#[derive(Debug, Parser)]
#[command(name = "iat-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a day of a generated organisation's CloudTrail files and labels.json.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// A weekday, YYYY-MM-DD.
        #[arg(long, default_value = "2026-03-03")]
        day: NaiveDate,
        #[arg(long, default_value_t = 4)]
        accounts: usize,
        #[arg(long, default_value_t = 50_000)]
        events: u64,
    },
    /// Serve trail files (e.g. from `generate`) as CloudTrail LookupEvents on 127.0.0.1.
    ///
    /// Point an AWS SDK or the AWS CLI at it with `--endpoint-url`; the access key id selects the
    /// account when it is 12 digits, the signing region selects the region.
    Serve {
        /// Directory of *.json.gz trail files.
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Requests per second per account and region.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// Page latency range in milliseconds, e.g. 200..4000.
        #[arg(long, default_value = "0..0")]
        latency_ms: String,
        /// Fraction of requests answered with 500/503.
        #[arg(long, default_value_t = 0.0)]
        error_rate: f64,
        /// Fraction of requests whose connection is dropped.
        #[arg(long, default_value_t = 0.0)]
        drop_rate: f64,
        /// Maximum delivery delay in seconds (each event gets 0..this, CloudTrail's is ~300).
        #[arg(long, default_value_t = 0)]
        max_delay_s: i64,
        /// The simulator's clock, frozen (RFC 3339); default: the real clock. Event history
        /// reaches 90 days back from it, so serve generated days with a `--now` near them.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate {
            out,
            seed,
            day,
            accounts,
            events,
        } => {
            let labels = generate(
                &OrgConfig {
                    seed,
                    day,
                    accounts,
                    background_events: events,
                    ..Default::default()
                },
                &out,
            )?;
            println!(
                "{} events in {} files, {} scenarios, labels in {}",
                labels.background_events + labels.scenario_events,
                labels.files,
                labels.scenarios.len(),
                out.join("labels.json").display()
            );
        }
        Command::Serve {
            dir,
            port,
            rate,
            latency_ms,
            error_rate,
            drop_rate,
            max_delay_s,
            now,
            seed,
        } => {
            let (lo, hi) = latency_ms
                .split_once("..")
                .and_then(|(a, b)| {
                    Some((a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?))
                })
                .filter(|(a, b)| a <= b)
                .context("--latency-ms takes MIN..MAX in milliseconds, e.g. 200..4000")?;
            let sim = Simulator::new(SimConfig {
                rate_per_second: rate,
                burst: rate.max(1.0),
                page_latency: (
                    std::time::Duration::from_millis(lo),
                    std::time::Duration::from_millis(hi),
                ),
                server_error_rate: error_rate,
                drop_rate,
                seed,
                ..Default::default()
            });
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n = load_trail_files(&sim, &dir, &mut |_| {
                Duration::seconds(if max_delay_s > 0 {
                    rng.random_range(0..=max_delay_s)
                } else {
                    0
                })
            })
            .with_context(|| format!("cannot load {}", dir.display()))?;
            if let Some(now) = now {
                sim.set_now(now);
            }
            let (addr, handle) = sim.serve(SocketAddr::from(([127, 0, 0, 1], port))).await?;
            println!(
                "serving {n} events as CloudTrail LookupEvents on http://{addr} (clock: {})",
                sim.now().to_rfc3339()
            );
            let visible = sim.visible_count();
            if visible < n {
                eprintln!(
                    "note: {} of {n} events are outside the 90-day horizon or not yet delivered at {}; see --now",
                    n - visible,
                    sim.now().to_rfc3339()
                );
            }
            handle.await?;
        }
    }
    Ok(())
}
