//! One module per subcommand; each owns its `Args` and a `run` returning an exit code.

pub mod audit;
pub mod check;
pub mod device;
pub mod incident;
pub mod open;
pub mod policy;
pub mod remote;
pub mod sanitize;
pub mod scan;
pub mod seal;
pub mod serve;
pub mod simulate;
pub mod token;
