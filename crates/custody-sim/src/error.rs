//! Errors of a simulation run.

/// A simulation could not be run to its end. No partial table is printed: a run that
/// fails says which step failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The server under test could not be started.
    #[error("starting the server: {0}")]
    Server(String),
    /// A set-up step (creating tenants, admins, cases, uploads, approvals) was refused:
    /// the deployment is not the one the scenario needs.
    #[error("set-up step {step} failed with status {status}: {detail}")]
    Setup {
        /// The step.
        step: String,
        /// HTTP status (0: no answer).
        status: u16,
        /// The problem's detail, or the transport error.
        detail: String,
    },
    /// A file or directory of the run could not be written or read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The audit log of the run could not be verified or read.
    #[error("audit log: {0}")]
    Audit(String),
    /// An option is out of range.
    #[error("{0}")]
    Options(String),
}
