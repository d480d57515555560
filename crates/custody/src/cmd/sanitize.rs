//! `custody sanitize`.

/// Arguments of `custody sanitize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input path.
    pub input: Option<std::path::PathBuf>,
}

/// Runs `custody sanitize`.
pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("custody sanitize is not built yet")
}
