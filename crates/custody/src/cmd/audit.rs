//! `custody audit`.

/// Subcommands of `custody audit`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Placeholder until the subcommands land.
    Help,
}

/// Runs `custody audit`.
pub fn run(_command: Command) -> anyhow::Result<u8> {
    anyhow::bail!("custody audit is not built yet")
}
