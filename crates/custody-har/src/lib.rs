//! custody-har.
