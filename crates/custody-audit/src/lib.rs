//! custody-audit.
