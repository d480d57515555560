//! `custody scan`.

/// Arguments of `custody scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input path.
    pub input: Option<std::path::PathBuf>,
}

/// Runs `custody scan`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("custody scan is not built yet")
}
