//! `custody-corpus`: writes benign and credential-planted corpora and scores
//! tools' recall against the plants.
//!
//! ```text
//! custody-corpus benign-har  --seed 1 --size 10M -o benign.har
//! custody-corpus planted-har --seed 1 --size 10M -o planted.har --plants plants.json
//! custody-corpus benign-text --seed 1 --size 100M -o benign.log
//! custody-corpus mixed-text  --seed 1 --size 100M [--many] -o mixed.log --plants plants.json
//! custody-corpus remaining   --plants plants.json sanitized.har   # what a sanitizer left
//! custody-corpus score       --plants plants.json reported.txt    # what a scanner flagged
//! ```
//! Sizes take decimal suffixes: `K` = 1,000 bytes, `M` = 10^6, `G` = 10^9.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use custody_corpus::{Plant, recall};

/// Deterministic corpora for custody's tests and benchmarks.
#[derive(Debug, Parser)]
#[command(name = "custody-corpus", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Benign browser traffic (HAR 1.2) without credentials.
    BenignHar(Gen),
    /// Browser traffic with ~40 kinds of credentials planted.
    PlantedHar(GenPlanted),
    /// Benign log text.
    BenignText(Gen),
    /// Log text with credential lines (few by default, many with --many).
    MixedText {
        #[command(flatten)]
        spec: GenPlanted,
        /// One credential line in 20 instead of one in 5,000.
        #[arg(long)]
        many: bool,
    },
    /// Prints, as JSON, which plants are still recoverable from FILE (a
    /// sanitizer's output): `caught` counts the plants it removed.
    Remaining {
        /// Plants file written by planted-har / mixed-text.
        #[arg(long)]
        plants: PathBuf,
        /// Output of the tool under test.
        file: PathBuf,
    },
    /// Prints, as JSON, how many plants a scanner flagged, given FILE with one
    /// reported location per line: a 1-based line number of the planted corpus,
    /// or a JSON pointer (starting with `/`). A plant counts as flagged when a
    /// reported line is one of its lines or a reported pointer is one of its
    /// pointers.
    Score {
        /// Plants file written by planted-har / mixed-text.
        #[arg(long)]
        plants: PathBuf,
        /// Reported line numbers.
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct Gen {
    /// Seed of the generator: same seed, same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Minimum size of the output (e.g. 10M, 1G).
    #[arg(long, value_parser = parse_size)]
    size: u64,
    /// Output file (stdout when absent).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct GenPlanted {
    #[command(flatten)]
    spec: Gen,
    /// Where to write the plants (JSON array with values: keep it private).
    #[arg(long)]
    plants: PathBuf,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.chars().last() {
        Some('K' | 'k') => (s.get(..s.len() - 1).unwrap_or(""), 1_000),
        Some('M' | 'm') => (s.get(..s.len() - 1).unwrap_or(""), 1_000_000),
        Some('G' | 'g') => (s.get(..s.len() - 1).unwrap_or(""), 1_000_000_000),
        _ => (s, 1),
    };
    let n: u64 = digits.parse().map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

fn output(path: Option<&Path>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    })
}

fn write_plants(path: &Path, plants: &[Plant]) -> anyhow::Result<()> {
    let mut w =
        BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?);
    serde_json::to_writer(&mut w, plants)?;
    w.flush()?;
    Ok(())
}

fn read_plants(path: &Path) -> anyhow::Result<Vec<Plant>> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    serde_json::from_reader(BufReader::new(f))
        .with_context(|| format!("parsing {}", path.display()))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::BenignHar(g) => {
            let stats = custody_corpus::benign_har(g.seed, g.size, output(g.output.as_deref())?)?;
            eprintln!("wrote {} bytes, {} entries", stats.bytes, stats.entries);
        }
        Command::BenignText(g) => {
            let stats = custody_corpus::benign_text(g.seed, g.size, output(g.output.as_deref())?)?;
            eprintln!("wrote {} bytes, {} lines", stats.bytes, stats.entries);
        }
        Command::PlantedHar(p) => {
            let plants = custody_corpus::planted_har(
                p.spec.seed,
                p.spec.size,
                output(p.spec.output.as_deref())?,
            )?;
            write_plants(&p.plants, &plants)?;
            eprintln!("planted {} values", plants.len());
        }
        Command::MixedText { spec: p, many } => {
            let plants = custody_corpus::mixed_text(
                p.spec.seed,
                p.spec.size,
                !many,
                output(p.spec.output.as_deref())?,
            )?;
            write_plants(&p.plants, &plants)?;
            eprintln!("planted {} values", plants.len());
        }
        Command::Remaining { plants, file } => {
            let plants = read_plants(&plants)?;
            let f = File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let left = recall::remaining(&plants, BufReader::new(f))?;
            let caught: Vec<bool> = left.iter().map(|l| !l).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&recall::summarize(&plants, &caught))?
            );
        }
        Command::Score { plants, file } => {
            let plants = read_plants(&plants)?;
            let f = File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let mut lines = HashSet::new();
            let mut pointers = HashSet::new();
            for line in BufReader::new(f).lines() {
                let line = line?;
                let t = line.trim();
                if t.is_empty() {
                    continue;
                }
                if t.starts_with('/') {
                    pointers.insert(t.to_owned());
                } else {
                    match t.parse::<u64>() {
                        Ok(n) => {
                            lines.insert(n);
                        }
                        Err(_) => bail!("neither a line number nor a JSON pointer: {t:?}"),
                    }
                }
            }
            let caught: Vec<bool> = plants
                .iter()
                .map(|p| {
                    p.lines().iter().any(|l| lines.contains(l))
                        || p.pointers().iter().any(|q| pointers.contains(q))
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&recall::summarize(&plants, &caught))?
            );
        }
    }
    Ok(())
}
