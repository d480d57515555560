//! Sealed exports and the one-time, online release of their content key (DESIGN §5),
//! plus the `settings` key-value table.
//!
//! [`Store::release_export_once`] is one conditional `UPDATE ... RETURNING` that checks
//! state, window, agent, device and network context together, so of any number of
//! concurrent callers at most one receives the key, and a caller with the wrong binding
//! never uses the release up.

use sqlx::FromRow;

use crate::db::{backend, check_window, digest, on_pool, write_error};
use crate::{
    ArtifactId, DeviceId, Export, ExportId, ExportState, NewExport, PrincipalId, ReleaseClaim,
    Store, StoreError,
};

#[derive(FromRow)]
struct ExportRow {
    id: String,
    artifact_id: String,
    agent_id: String,
    device_id: String,
    network_hash: Vec<u8>,
    not_before: i64,
    not_after: i64,
    wrapped_content_key: Vec<u8>,
    state: String,
    created_at: i64,
    released_at: Option<i64>,
    ended_at: Option<i64>,
}

impl TryFrom<ExportRow> for Export {
    type Error = StoreError;
    fn try_from(r: ExportRow) -> Result<Self, StoreError> {
        Ok(Export {
            id: ExportId::from_db(r.id)?,
            artifact_id: ArtifactId::from_db(r.artifact_id)?,
            agent_id: PrincipalId::from_db(r.agent_id)?,
            device_id: DeviceId::from_db(r.device_id)?,
            network_hash: digest("export", r.network_hash)?,
            not_before: r.not_before,
            not_after: r.not_after,
            wrapped_content_key: r.wrapped_content_key,
            state: ExportState::from_db(&r.state)?,
            created_at: r.created_at,
            released_at: r.released_at,
            ended_at: r.ended_at,
        })
    }
}

const EXPORT_COLS: &str = "id, artifact_id, agent_id, device_id, network_hash, not_before, not_after, wrapped_content_key, state, created_at, released_at, ended_at";

/// Largest accepted settings value, in bytes (a policy bundle fits comfortably).
const MAX_SETTING_BYTES: usize = 16 * 1024 * 1024;

impl Store {
    /// Records a sealed export (state `pending`).
    ///
    /// # Errors
    /// `NotFound` if the artifact does not exist or the device is not the agent's;
    /// `Invalid` for an empty window or an empty wrapped key.
    pub async fn create_export(&self, new: &NewExport) -> Result<Export, StoreError> {
        check_window("not_after", new.not_before, new.not_after)?;
        if new.wrapped_content_key.is_empty() {
            return Err(StoreError::Invalid {
                field: "wrapped_content_key",
                reason: "must not be empty",
            });
        }
        let export = Export {
            id: ExportId::generate()?,
            artifact_id: new.artifact_id.clone(),
            agent_id: new.agent_id.clone(),
            device_id: new.device_id.clone(),
            network_hash: new.network_hash,
            not_before: new.not_before,
            not_after: new.not_after,
            wrapped_content_key: new.wrapped_content_key.clone(),
            state: ExportState::Pending,
            created_at: new.created_at,
            released_at: None,
            ended_at: None,
        };
        let sql = "INSERT INTO exports (id, artifact_id, agent_id, device_id, network_hash, not_before, not_after, wrapped_content_key, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(export.id.as_str())
            .bind(export.artifact_id.as_str())
            .bind(export.agent_id.as_str())
            .bind(export.device_id.as_str())
            .bind(&export.network_hash[..])
            .bind(export.not_before)
            .bind(export.not_after)
            .bind(&export.wrapped_content_key)
            .bind(export.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| {
            write_error(
                "create export",
                "export",
                "artifact, or device of that agent",
                e,
            )
        })?;
        Ok(export)
    }

    /// Reads an export.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn export(&self, id: &ExportId) -> Result<Export, StoreError> {
        let sql = format!("SELECT {EXPORT_COLS} FROM exports WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, ExportRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read export", e))?
            .ok_or(StoreError::NotFound { entity: "export" })?
            .try_into()
    }

    /// Lists an agent's exports, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_agent_exports(&self, agent: &PrincipalId) -> Result<Vec<Export>, StoreError> {
        let sql = format!(
            "SELECT {EXPORT_COLS} FROM exports WHERE agent_id = $1 ORDER BY created_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, ExportRow>(&sql).bind(agent.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list exports", e))?;
        rows.into_iter().map(Export::try_from).collect()
    }

    /// Releases an export's content key, once: an atomic compare-and-set from `pending`
    /// to `released` that also requires `not_before <= now < not_after` and that the
    /// claim's agent, device and network hash equal the export's. Returns the export
    /// (with its wrapped content key) to the one caller that wins.
    ///
    /// # Errors
    /// `NotFound` for an unknown export; `Conflict` if it was already released, refused
    /// or revoked, or if the claim does not match its binding (which does not use the
    /// release up); `Expired` outside its window.
    pub async fn release_export_once(
        &self,
        id: &ExportId,
        claim: &ReleaseClaim,
        now: i64,
    ) -> Result<Export, StoreError> {
        let sql = format!(
            "UPDATE exports SET state = 'released', released_at = $2 \
             WHERE id = $1 AND state = 'pending' AND not_before <= $2 AND not_after > $2 \
             AND agent_id = $3 AND device_id = $4 AND network_hash = $5 RETURNING {EXPORT_COLS}"
        );
        let row = on_pool!(self, p => sqlx::query_as::<_, ExportRow>(&sql)
            .bind(id.as_str())
            .bind(now)
            .bind(claim.agent_id.as_str())
            .bind(claim.device_id.as_str())
            .bind(&claim.network_hash[..])
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("release export", e))?;
        if let Some(row) = row {
            return row.try_into();
        }
        let export = self.export(id).await?;
        let entity = "export";
        Err(if export.state != ExportState::Pending {
            StoreError::Conflict {
                entity,
                reason: "the content key was already released, or the export was refused or revoked",
            }
        } else if export.agent_id != claim.agent_id
            || export.device_id != claim.device_id
            || export.network_hash != claim.network_hash
        {
            StoreError::Conflict {
                entity,
                reason: "the agent, device or network context does not match the export",
            }
        } else if now < export.not_before || now >= export.not_after {
            StoreError::Expired { entity }
        } else {
            // Raced with the winning release between the update and the read.
            StoreError::Conflict {
                entity,
                reason: "the content key was already released",
            }
        })
    }

    /// Ends a pending export for good: `Refused` or `Revoked`.
    ///
    /// # Errors
    /// `Invalid` for a target state other than those two, `NotFound` for an unknown
    /// export, `Conflict` if it is no longer pending (a released key cannot be recalled).
    pub async fn end_export(
        &self,
        id: &ExportId,
        to: ExportState,
        now: i64,
    ) -> Result<Export, StoreError> {
        if !matches!(to, ExportState::Refused | ExportState::Revoked) {
            return Err(StoreError::Invalid {
                field: "state",
                reason: "an export can only be ended as refused or revoked",
            });
        }
        let sql = format!(
            "UPDATE exports SET state = $2, ended_at = $3 WHERE id = $1 AND state = 'pending' RETURNING {EXPORT_COLS}"
        );
        let row = on_pool!(self, p => sqlx::query_as::<_, ExportRow>(&sql).bind(id.as_str()).bind(to.as_str()).bind(now).fetch_optional(p).await)
            .map_err(|e| backend("end export", e))?;
        match row {
            Some(r) => r.try_into(),
            None => {
                self.export(id).await?;
                Err(StoreError::Conflict {
                    entity: "export",
                    reason: "no longer pending",
                })
            }
        }
    }

    /// Reads a setting; `None` if unset.
    ///
    /// # Errors
    /// `Invalid` for a malformed key, `Backend` if the database fails.
    pub async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check_setting_key(key)?;
        let row: Option<(Vec<u8>,)> = on_pool!(self, p => sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(p).await)
            .map_err(|e| backend("read setting", e))?;
        Ok(row.map(|(v,)| v))
    }

    /// Writes a setting, replacing any value.
    ///
    /// # Errors
    /// `Invalid` for a malformed key or an oversized value.
    pub async fn put_setting(&self, key: &str, value: &[u8], now: i64) -> Result<(), StoreError> {
        check_setting_key(key)?;
        check_setting_value(value)?;
        let sql = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        on_pool!(self, p => sqlx::query(sql).bind(key).bind(value).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .map(drop)
            .map_err(|e| backend("write setting", e))
    }

    /// Writes a setting only if its current value is `expected` (`None`: only if
    /// unset), atomically; for settings several nodes race to change (e.g. the active
    /// policy bundle).
    ///
    /// # Errors
    /// `Conflict` if the current value is not `expected`; `Invalid` as for
    /// [`Store::put_setting`].
    pub async fn compare_and_set_setting(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        check_setting_key(key)?;
        check_setting_value(value)?;
        let changed = match expected {
            None => {
                let sql = "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING";
                on_pool!(self, p => sqlx::query(sql).bind(key).bind(value).bind(now).execute(p).await.map(|r| r.rows_affected()))
            }
            Some(old) => {
                let sql = "UPDATE settings SET value = $2, updated_at = $3 WHERE key = $1 AND value = $4";
                on_pool!(self, p => sqlx::query(sql).bind(key).bind(value).bind(now).bind(old).execute(p).await.map(|r| r.rows_affected()))
            }
        }
        .map_err(|e| backend("compare and set setting", e))?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                entity: "setting",
                reason: "the current value is not the expected one",
            })
        }
    }

    /// Deletes a setting; returns whether it existed.
    ///
    /// # Errors
    /// `Invalid` for a malformed key, `Backend` if the database fails.
    pub async fn delete_setting(&self, key: &str) -> Result<bool, StoreError> {
        check_setting_key(key)?;
        on_pool!(self, p => sqlx::query("DELETE FROM settings WHERE key = $1").bind(key).execute(p).await.map(|r| r.rows_affected() > 0))
            .map_err(|e| backend("delete setting", e))
    }
}

fn check_setting_key(key: &str) -> Result<(), StoreError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "setting key",
            reason: "expected 1 to 128 characters of [a-z0-9_.-]",
        })
    }
}

fn check_setting_value(value: &[u8]) -> Result<(), StoreError> {
    if value.len() <= MAX_SETTING_BYTES {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "setting value",
            reason: "larger than 16 MiB",
        })
    }
}
