//! `custody`: the one binary of the custody support plane.
//!
//! This crate is deliberately thin: it parses arguments, reads files and the
//! environment, calls the library crates and maps their outcomes to output and
//! exit codes. Exit codes: 0 clean / success, 1 findings or refusal, 2 error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// custody: a support plane built like identity infrastructure.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Detect credentials in files, directories or stdin.
    Scan(cmd::scan::Args),
    /// Remove replayable credentials from a HAR, JSON, text/log or zip artifact.
    Sanitize(cmd::sanitize::Args),
    /// Manage this device's identity (HPKE and proof-of-possession keys).
    #[command(subcommand)]
    Device(cmd::device::Command),
    /// Seal an artifact to one device, network context and time window.
    Seal(cmd::seal::Args),
    /// Open a sealed export on this device.
    Open(cmd::open::Args),
    /// Issue, inspect and verify access tokens locally.
    #[command(subcommand)]
    Token(cmd::token::Command),
    /// Verify, prove, export and tail the tamper-evident audit log.
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    /// Incident response: blast radius and tenant notices from the audit log;
    /// revocation bundles staged, approved and executed on the server.
    #[command(subcommand)]
    Incident(cmd::incident::Command),
    /// Test, diff, bundle, sign and verify policy bundles; generate release keys.
    #[command(subcommand)]
    Policy(cmd::policy::Command),
    /// Run the broker service (embedded default: SQLite + local blob directory).
    Serve(cmd::serve::ServeArgs),
    /// Initialise a data directory: default policy bundle and the first operator.
    Init(cmd::serve::InitArgs),
    /// Enrol this device with a one-time code from an operator.
    Enrol(cmd::remote::EnrolArgs),
    /// Sign in to a server with this device's key (no password).
    Login(cmd::remote::LoginArgs),
    /// Make one authenticated API call (DPoP-bound) and print the JSON answer.
    Call(cmd::remote::CallArgs),
    /// Upload an artifact to a case (sanitized, scanned and encrypted by the server).
    Upload(cmd::remote::UploadArgs),
    /// Download a sanitized artifact of your tenant.
    Download(cmd::remote::DownloadArgs),
    /// Approve a grant or export request: sign its exact digest with this device's key.
    Approve(cmd::remote::ApproveArgs),
    /// Request an export (--artifact) or fetch an approved one (--approval -o FILE).
    Export(cmd::remote::ExportArgs),
    /// Open an export file on this device (the server releases its key once).
    OpenExport(cmd::remote::OpenExportArgs),
    /// Check the deployment's invariants (I1-I8) on the server: exit 0 clean, 1 violations.
    Check(cmd::check::Args),
    /// Replay an incident's attack chain against a real custody server.
    #[command(subcommand)]
    Simulate(cmd::simulate::Command),
}

/// Exit status for a run that found nothing to report.
pub const EXIT_CLEAN: u8 = 0;
/// Exit status for findings, refusals or failed verification.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit status for errors (bad input, I/O, usage).
pub const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => cmd::scan::run(args),
        Command::Simulate(command) => cmd::simulate::run(command),
        Command::Sanitize(args) => cmd::sanitize::run(args),
        Command::Device(command) => cmd::device::run(command),
        Command::Seal(args) => cmd::seal::run(args),
        Command::Open(args) => cmd::open::run(args),
        Command::Token(command) => cmd::token::run(command),
        Command::Audit(command) => cmd::audit::run(command),
        Command::Incident(command) => cmd::incident::run(command),
        Command::Policy(command) => cmd::policy::run(command),
        Command::Serve(args) => cmd::serve::run_serve(args),
        Command::Init(args) => cmd::serve::run_init(args),
        Command::Enrol(args) => cmd::remote::run_enrol(args),
        Command::Login(args) => cmd::remote::run_login(args),
        Command::Call(args) => cmd::remote::run_call(args),
        Command::Upload(args) => cmd::remote::run_upload(args),
        Command::Download(args) => cmd::remote::run_download(args),
        Command::Approve(args) => cmd::remote::run_approve(args),
        Command::Export(args) => cmd::remote::run_export(args),
        Command::OpenExport(args) => cmd::remote::run_open_export(args),
        Command::Check(args) => cmd::check::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::from(EXIT_CLEAN);
            }
            eprintln!("custody: error: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// A closed stdout (e.g. `custody scan | head`) is not an error (ripgrep's rule).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
