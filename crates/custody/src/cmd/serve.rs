//! `custody serve` (the broker service) and `custody init` (first operator and the
//! default policy bundle).

use std::path::PathBuf;

use anyhow::Context;

use crate::EXIT_CLEAN;

/// Arguments of `custody serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Data directory (SQLite database, encrypted blobs, keys, audit log); created if
    /// missing. Default: `$CUSTODY_DATA`, else `./custody-data`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Listen address (default 127.0.0.1:8443, or `$CUSTODY_LISTEN`).
    #[arg(long)]
    pub listen: Option<String>,
    /// TOML configuration file (environment variables override it; flags override both).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where `/metrics` is served, never on the public listener: `address:port` or
    /// `off` (default 127.0.0.1:9464, or `$CUSTODY_METRICS_LISTEN`).
    #[arg(long)]
    pub metrics_listen: Option<String>,
}

/// Arguments of `custody init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Data directory, as for `custody serve`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The first operator's display name.
    #[arg(long, default_value = "Operator")]
    pub name: String,
    /// Where to write the three policy release keys (default: DATA/release-keys).
    /// Move them off this machine afterwards.
    #[arg(long)]
    pub release_keys: Option<PathBuf>,
    /// Listen address the server will use (it is the token issuer).
    #[arg(long)]
    pub listen: Option<String>,
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

fn config(
    file: Option<&std::path::Path>,
    data: Option<PathBuf>,
    listen: Option<String>,
) -> anyhow::Result<custody_server::Config> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(custody_server::Config::resolve(file, &env, data, listen)?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Runs `custody serve`. Logs go to stderr (`CUSTODY_LOG`, default `info`); they carry
/// ids, routes and error kinds, never tokens, bodies or artifact content.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<u8> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUSTODY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let mut config = config(args.config.as_deref(), args.data, args.listen)?;
    if let Some(text) = &args.metrics_listen {
        config = config.with_metrics_listen(text)?;
    }
    let listen = config.listen;
    let metrics = config.metrics_listen;
    let data = config.data_dir.clone();
    runtime()?.block_on(async move {
        let state = custody_server::open_state(config).await?;
        if state.broker.policy_bundle_id().is_none() {
            eprintln!(
                "custody: no policy bundle is active: every request is denied. Run `custody init --data {}` first.",
                data.display()
            );
        }
        eprintln!("custody: serving on http://{listen} (data in {})", data.display());
        match metrics {
            Some(addr) => eprintln!("custody: metrics on http://{addr}/metrics"),
            None => eprintln!("custody: metrics are off"),
        }
        custody_server::run(state).await
    })?;
    Ok(EXIT_CLEAN)
}

/// Runs `custody init`.
pub fn run_init(args: InitArgs) -> anyhow::Result<u8> {
    let config = config(args.config.as_deref(), args.data, args.listen)?;
    let release = args
        .release_keys
        .unwrap_or_else(|| config.data_dir.join("release-keys"));
    let public_url = config.public_url.clone();
    let done = runtime()?.block_on(async move {
        let state = custody_server::open_state(config).await?;
        state
            .broker
            .initialize(&args.name, &release)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    println!("custody initialised");
    println!("  policy bundle   {}", done.policy_bundle);
    println!("  operator        {}", done.operator);
    println!(
        "  enrolment code  {}   (one use, expires in 1 hour)",
        done.enrolment_code
    );
    println!();
    println!("Enrol the operator's device:");
    println!("  custody device init");
    println!(
        "  custody enrol --server {public_url} --code {}",
        done.enrolment_code
    );
    println!("  custody login --server {public_url}");
    println!();
    println!(
        "The policy release keys (2 of 3 sign a bundle) are in {}: move them off this machine.",
        done.release_keys_dir.display()
    );
    Ok(EXIT_CLEAN)
}
