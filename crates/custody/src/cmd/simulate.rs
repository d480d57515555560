//! `custody simulate okta-2023`: the 2023 support-system breach replayed against a
//! real custody server (logic in `custody-sim`; this module parses arguments and
//! prints).

use std::io::Write as _;
use std::path::PathBuf;

use custody_sim::{Options, Scenario};

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// Subcommands of `custody simulate`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The 2023 chain: a stolen service-account credential reads support artifacts
    /// in bulk and slowly, a compromised agent uses its grants, and every token
    /// found is replayed from another device and network. Exit 0 when no session
    /// was hijacked, no live credential exposed and containment was inside its
    /// targets (always 0 with --unsafe-baseline, which is expected to fail them).
    #[command(name = "okta-2023")]
    Okta2023(Okta2023Args),
}

/// Arguments of `custody simulate okta-2023`.
#[derive(Debug, clap::Args)]
pub struct Okta2023Args {
    /// Tenants per deployment (the incident: 134 customers' files were read).
    #[arg(long, default_value_t = 134)]
    tenants: usize,
    /// Tenants whose case the support agent holds an approved grant on.
    #[arg(long, default_value_t = 5)]
    agent_grants: usize,
    /// Only these scenarios (default: all): sa-bulk, sa-slow, sa-slow-host, agent.
    #[arg(long = "scenario", value_parser = parse_scenario)]
    scenarios: Vec<Scenario>,
    /// Switch sanitizing, token binding and detection off, to show what they prevent.
    #[arg(long)]
    unsafe_baseline: bool,
    /// Keep each deployment's data directory (audit log, database) under DIR.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Emit the report as JSON on stdout instead of the table.
    #[arg(long)]
    json: bool,
}

fn parse_scenario(text: &str) -> Result<Scenario, String> {
    Scenario::ALL
        .into_iter()
        .find(|s| s.name() == text)
        .ok_or_else(|| format!("unknown scenario {text:?} (sa-bulk, sa-slow, sa-slow-host, agent)"))
}

/// Runs `custody simulate`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    let Command::Okta2023(args) = command;
    let mut options = Options::new(args.tenants);
    options.agent_grants = args.agent_grants;
    options.unsafe_baseline = args.unsafe_baseline;
    options.work_dir = args.keep;
    if !args.scenarios.is_empty() {
        options.scenarios = args.scenarios;
    }
    let report = custody_sim::run(&options, &mut |line| eprintln!("custody: {line}"))?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &report)?;
        writeln!(stdout)?;
    } else {
        write!(stdout, "{}", report.table())?;
    }
    stdout.flush()?;
    Ok(if args.unsafe_baseline || report.holds() {
        EXIT_CLEAN
    } else {
        EXIT_FINDINGS
    })
}
