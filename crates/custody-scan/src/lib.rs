//! custody-scan.
