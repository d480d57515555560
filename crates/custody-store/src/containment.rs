//! Containment queries (DESIGN §9, §10): ending every grant and pending export that
//! touches a tenant, and freezing a tenant's exports ([`ExportFreeze`]). Each is one
//! statement (or one transaction), so a revocation is all-or-nothing.

use sqlx::FromRow;

use crate::db::{backend, check_text, on_pool, write_error};
use crate::{Store, StoreError, TenantId};

/// A freeze of one tenant's exports: while it stands no export is made and no export
/// key is released for the tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportFreeze {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Why (a finding id, an incident reference; never a secret).
    pub reason: String,
    /// Who froze it (`system` for automatic containment, or a principal id).
    pub frozen_by: String,
    /// When, Unix seconds.
    pub frozen_at: i64,
}

#[derive(FromRow)]
struct FreezeRow {
    tenant_id: String,
    reason: String,
    frozen_by: String,
    frozen_at: i64,
}

impl TryFrom<FreezeRow> for ExportFreeze {
    type Error = StoreError;
    fn try_from(r: FreezeRow) -> Result<Self, StoreError> {
        Ok(ExportFreeze {
            tenant_id: TenantId::from_db(r.tenant_id)?,
            reason: r.reason,
            frozen_by: r.frozen_by,
            frozen_at: r.frozen_at,
        })
    }
}

impl Store {
    /// Revokes every grant of `tenant` that is still `requested` or `approved`; returns
    /// how many.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn revoke_tenant_grants(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE grants SET status = 'revoked', decided_at = $2 WHERE tenant_id = $1 AND status IN ('requested', 'approved')";
        let done =
            on_pool!(self, p => sqlx::query(sql).bind(tenant.as_str()).bind(now).execute(p).await.map(|r| r.rows_affected()))
                .map_err(|e| backend("revoke tenant grants", e))?;
        Ok(done)
    }

    /// Revokes every pending export of an artifact of `tenant` (a released key cannot
    /// be recalled; its window is at most 5 minutes); returns how many.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn revoke_tenant_exports(
        &self,
        tenant: &TenantId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE exports SET state = 'revoked', ended_at = $2 WHERE state = 'pending' AND artifact_id IN (SELECT id FROM artifacts WHERE tenant_id = $1)";
        let done =
            on_pool!(self, p => sqlx::query(sql).bind(tenant.as_str()).bind(now).execute(p).await.map(|r| r.rows_affected()))
                .map_err(|e| backend("revoke tenant exports", e))?;
        Ok(done)
    }

    /// Freezes `tenant`'s exports (idempotent: an existing freeze is kept as it was)
    /// and returns the freeze in force.
    ///
    /// # Errors
    /// `NotFound` for an unknown tenant, `Invalid` for an over-long reason or actor.
    pub async fn freeze_exports(
        &self,
        tenant: &TenantId,
        reason: &str,
        frozen_by: &str,
        now: i64,
    ) -> Result<ExportFreeze, StoreError> {
        check_text("freeze reason", reason, 512)?;
        check_text("frozen by", frozen_by, 64)?;
        let sql = "INSERT INTO tenant_export_freezes (tenant_id, reason, frozen_by, frozen_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO NOTHING";
        on_pool!(self, p => sqlx::query(sql).bind(tenant.as_str()).bind(reason).bind(frozen_by).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| write_error("freeze exports", "export freeze", "tenant", e))?;
        self.export_freeze(tenant)
            .await?
            .ok_or(StoreError::NotFound {
                entity: "export freeze",
            })
    }

    /// The freeze of `tenant`'s exports, if one stands.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn export_freeze(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<ExportFreeze>, StoreError> {
        let sql = "SELECT tenant_id, reason, frozen_by, frozen_at FROM tenant_export_freezes WHERE tenant_id = $1";
        let row = on_pool!(self, p => sqlx::query_as::<_, FreezeRow>(sql).bind(tenant.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read export freeze", e))?;
        row.map(ExportFreeze::try_from).transpose()
    }

    /// Lifts the freeze of `tenant`'s exports; `false` if there was none.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn unfreeze_exports(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let sql = "DELETE FROM tenant_export_freezes WHERE tenant_id = $1";
        let done = on_pool!(self, p => sqlx::query(sql).bind(tenant.as_str()).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| backend("unfreeze exports", e))?;
        Ok(done > 0)
    }
}
