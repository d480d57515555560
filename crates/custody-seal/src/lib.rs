//! custody-seal.
