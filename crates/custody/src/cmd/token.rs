//! `custody token`.

/// Subcommands of `custody token`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands land.
    Help,
}

/// Runs `custody token`.
pub fn run(_command: Command) -> anyhow::Result<u8> {
    anyhow::bail!("custody token is not built yet")
}
