//! `custody seal`.

/// Arguments of `custody seal`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input path.
    pub input: Option<std::path::PathBuf>,
}

/// Runs `custody seal`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("custody seal is not built yet")
}
