-- The view index of an artifact (custody-broker `view::ViewIndex`): where each HAR
-- entry, or every n-th line, starts in the sanitized output, recorded at ingest so a
-- paged view decrypts and parses only its page. Opaque bytes here; offsets and
-- counts only, never content. Deleted with its artifact.
CREATE TABLE artifact_view_indexes (
    artifact_id TEXT NOT NULL PRIMARY KEY REFERENCES artifacts (id) ON DELETE CASCADE,
    index_bytes BYTEA NOT NULL CHECK (length(index_bytes) > 0)
);
