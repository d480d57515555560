//! Artifact view indexes (migration 0002): opaque bytes the broker records at ingest
//! beside an artifact's metadata (entry and line offsets of the sanitized output, never
//! content), so a paged view reads only its page. One per artifact, deleted with it.

use crate::db::{backend, on_pool, write_error};
use crate::{ArtifactId, Store, StoreError};

/// Longest view index accepted (bytes).
pub const MAX_VIEW_INDEX: usize = 64 * 1024 * 1024;

impl Store {
    /// Records the view index of an artifact.
    ///
    /// # Errors
    /// `Invalid` for empty or oversized bytes, `NotFound` if the artifact does not
    /// exist, `Conflict` if it already has one.
    pub async fn put_artifact_view_index(
        &self,
        artifact: &ArtifactId,
        index: &[u8],
    ) -> Result<(), StoreError> {
        if index.is_empty() || index.len() > MAX_VIEW_INDEX {
            return Err(StoreError::Invalid {
                field: "view index",
                reason: "must be 1 byte to 64 MiB",
            });
        }
        let sql = "INSERT INTO artifact_view_indexes (artifact_id, index_bytes) VALUES ($1, $2)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(artifact.as_str())
            .bind(index)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create view index", "view index", "artifact", e))?;
        Ok(())
    }

    /// The view index of an artifact; `None` if it has none (artifacts stored before
    /// migration 0002, or kinds without a view).
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn artifact_view_index(
        &self,
        artifact: &ArtifactId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = "SELECT index_bytes FROM artifact_view_indexes WHERE artifact_id = $1";
        let row: Option<(Vec<u8>,)> = on_pool!(self, p => sqlx::query_as(sql)
            .bind(artifact.as_str())
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("read view index", e))?;
        Ok(row.map(|(bytes,)| bytes))
    }
}
