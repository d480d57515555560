//! `custody open`.

/// Arguments of `custody open`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input path.
    pub input: Option<std::path::PathBuf>,
}

/// Runs `custody open`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("custody open is not built yet")
}
