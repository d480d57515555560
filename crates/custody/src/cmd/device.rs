//! `custody device`.

/// Subcommands of `custody device`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands land.
    Help,
}

/// Runs `custody device`.
pub fn run(_command: Command) -> anyhow::Result<u8> {
    anyhow::bail!("custody device is not built yet")
}
