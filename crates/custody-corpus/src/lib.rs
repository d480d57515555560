//! custody-corpus.
