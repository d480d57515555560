//! custody-token.
