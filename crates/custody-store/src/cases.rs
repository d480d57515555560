//! Cases and their agent assignments, tenant data keys (wrapped), and artifact metadata.

use sqlx::FromRow;

use crate::db::{backend, check_json, check_text, digest, on_pool, write_error};
use crate::{
    Artifact, ArtifactId, ArtifactKind, BlobKey, Case, CaseId, DataKeyId, NewArtifact, NewCase,
    PrincipalId, Store, StoreError, TenantDataKey, TenantId,
};

#[derive(FromRow)]
struct CaseRow {
    id: String,
    tenant_id: String,
    opened_by: String,
    title: String,
    created_at: i64,
}

#[derive(FromRow)]
struct DataKeyRow {
    id: String,
    tenant_id: String,
    wrapped_key: Vec<u8>,
    created_at: i64,
}

impl TryFrom<DataKeyRow> for TenantDataKey {
    type Error = StoreError;
    fn try_from(r: DataKeyRow) -> Result<Self, StoreError> {
        Ok(TenantDataKey {
            id: DataKeyId::from_db(r.id)?,
            tenant_id: TenantId::from_db(r.tenant_id)?,
            wrapped_key: r.wrapped_key,
            created_at: r.created_at,
        })
    }
}

#[derive(FromRow)]
struct ArtifactRow {
    id: String,
    case_id: String,
    tenant_id: String,
    kind: String,
    original_name: String,
    size: i64,
    sanitized_sha256: Vec<u8>,
    input_sha256: Vec<u8>,
    report_json: String,
    rules_version: String,
    blob_key: String,
    data_key_id: String,
    created_at: i64,
}

impl TryFrom<ArtifactRow> for Artifact {
    type Error = StoreError;
    fn try_from(r: ArtifactRow) -> Result<Self, StoreError> {
        let corrupt = |reason| StoreError::Corrupt {
            entity: "artifact",
            reason,
        };
        Ok(Artifact {
            id: ArtifactId::from_db(r.id)?,
            case_id: CaseId::from_db(r.case_id)?,
            tenant_id: TenantId::from_db(r.tenant_id)?,
            kind: ArtifactKind::from_db(&r.kind)?,
            original_name: r.original_name,
            size: u64::try_from(r.size).map_err(|_| corrupt("negative size"))?,
            sanitized_sha256: digest("artifact", r.sanitized_sha256)?,
            input_sha256: digest("artifact", r.input_sha256)?,
            report_json: r.report_json,
            rules_version: r.rules_version,
            blob_key: BlobKey::parse(&r.blob_key).map_err(|_| corrupt("malformed blob key"))?,
            data_key_id: DataKeyId::from_db(r.data_key_id)?,
            created_at: r.created_at,
        })
    }
}

const CASE_COLS: &str = "id, tenant_id, opened_by, title, created_at";
const ARTIFACT_COLS: &str = "id, case_id, tenant_id, kind, original_name, size, sanitized_sha256, input_sha256, report_json, rules_version, blob_key, data_key_id, created_at";

impl Store {
    /// Opens a case for a tenant.
    ///
    /// # Errors
    /// `NotFound` if the tenant or the opener does not exist, `Invalid` for a bad title.
    pub async fn create_case(&self, new: &NewCase) -> Result<Case, StoreError> {
        check_text("case title", &new.title, 256)?;
        let case = Case {
            id: CaseId::generate()?,
            tenant_id: new.tenant_id.clone(),
            opened_by: new.opened_by.clone(),
            title: new.title.clone(),
            assigned: Vec::new(),
            created_at: new.created_at,
        };
        let sql = "INSERT INTO cases (id, tenant_id, opened_by, title, created_at) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(case.id.as_str())
            .bind(case.tenant_id.as_str())
            .bind(case.opened_by.as_str())
            .bind(&case.title)
            .bind(case.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create case", "case", "tenant or principal", e))?;
        Ok(case)
    }

    /// Reads a case with its assigned agents.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn case(&self, id: &CaseId) -> Result<Case, StoreError> {
        let sql = format!("SELECT {CASE_COLS} FROM cases WHERE id = $1");
        let row = on_pool!(self, p => sqlx::query_as::<_, CaseRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read case", e))?
            .ok_or(StoreError::NotFound { entity: "case" })?;
        self.hydrate_case(row).await
    }

    /// Lists a tenant's cases, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_cases(&self, tenant: &TenantId) -> Result<Vec<Case>, StoreError> {
        let sql =
            format!("SELECT {CASE_COLS} FROM cases WHERE tenant_id = $1 ORDER BY created_at, id");
        let rows = on_pool!(self, p => sqlx::query_as::<_, CaseRow>(&sql).bind(tenant.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list cases", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.hydrate_case(row).await?);
        }
        Ok(out)
    }

    /// Lists the cases a support agent is assigned to, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_assigned_cases(&self, agent: &PrincipalId) -> Result<Vec<Case>, StoreError> {
        let sql = "SELECT c.id, c.tenant_id, c.opened_by, c.title, c.created_at FROM cases c JOIN case_assignments a ON a.case_id = c.id WHERE a.agent_id = $1 ORDER BY c.created_at, c.id";
        let rows = on_pool!(self, p => sqlx::query_as::<_, CaseRow>(sql).bind(agent.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list assigned cases", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.hydrate_case(row).await?);
        }
        Ok(out)
    }

    /// Assigns a support agent to a case and returns the case.
    ///
    /// # Errors
    /// `NotFound` if the case does not exist or the principal is not a support agent,
    /// `Conflict` if already assigned.
    pub async fn assign_case(
        &self,
        case: &CaseId,
        agent: &PrincipalId,
        now: i64,
    ) -> Result<Case, StoreError> {
        let sql = "INSERT INTO case_assignments (case_id, agent_id, agent_class, assigned_at) VALUES ($1, $2, 'support_agent', $3)";
        on_pool!(self, p => sqlx::query(sql).bind(case.as_str()).bind(agent.as_str()).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| write_error("assign case", "case assignment", "case or support agent", e))?;
        self.case(case).await
    }

    /// Removes a support agent from a case and returns the case.
    ///
    /// # Errors
    /// `NotFound` if the agent was not assigned to the case.
    pub async fn unassign_case(
        &self,
        case: &CaseId,
        agent: &PrincipalId,
    ) -> Result<Case, StoreError> {
        let sql = "DELETE FROM case_assignments WHERE case_id = $1 AND agent_id = $2";
        let n = on_pool!(self, p => sqlx::query(sql).bind(case.as_str()).bind(agent.as_str()).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| backend("unassign case", e))?;
        if n == 0 {
            return Err(StoreError::NotFound {
                entity: "case assignment",
            });
        }
        self.case(case).await
    }

    async fn hydrate_case(&self, row: CaseRow) -> Result<Case, StoreError> {
        let agents: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT agent_id FROM case_assignments WHERE case_id = $1 ORDER BY agent_id")
            .bind(&row.id)
            .fetch_all(p)
            .await)
        .map_err(|e| backend("read case assignments", e))?;
        Ok(Case {
            id: CaseId::from_db(row.id)?,
            tenant_id: TenantId::from_db(row.tenant_id)?,
            opened_by: PrincipalId::from_db(row.opened_by)?,
            title: row.title,
            assigned: agents
                .into_iter()
                .map(|(a,)| PrincipalId::from_db(a))
                .collect::<Result<_, _>>()?,
            created_at: row.created_at,
        })
    }

    /// Stores a tenant data key in the wrapped form the broker produced.
    ///
    /// # Errors
    /// `NotFound` if the tenant does not exist, `Invalid` for empty bytes.
    pub async fn create_data_key(
        &self,
        tenant: &TenantId,
        wrapped_key: &[u8],
        created_at: i64,
    ) -> Result<TenantDataKey, StoreError> {
        if wrapped_key.is_empty() {
            return Err(StoreError::Invalid {
                field: "wrapped_key",
                reason: "must not be empty",
            });
        }
        let key = TenantDataKey {
            id: DataKeyId::generate()?,
            tenant_id: tenant.clone(),
            wrapped_key: wrapped_key.to_vec(),
            created_at,
        };
        let sql = "INSERT INTO tenant_data_keys (id, tenant_id, wrapped_key, created_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(key.id.as_str())
            .bind(key.tenant_id.as_str())
            .bind(&key.wrapped_key)
            .bind(key.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create data key", "tenant data key", "tenant", e))?;
        Ok(key)
    }

    /// Reads a tenant data key.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn data_key(&self, id: &DataKeyId) -> Result<TenantDataKey, StoreError> {
        let sql =
            "SELECT id, tenant_id, wrapped_key, created_at FROM tenant_data_keys WHERE id = $1";
        on_pool!(self, p => sqlx::query_as::<_, DataKeyRow>(sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read data key", e))?
            .ok_or(StoreError::NotFound { entity: "tenant data key" })?
            .try_into()
    }

    /// The tenant's newest data key (the one new artifacts use).
    ///
    /// # Errors
    /// `NotFound` if the tenant has none.
    pub async fn current_data_key(&self, tenant: &TenantId) -> Result<TenantDataKey, StoreError> {
        let sql = "SELECT id, tenant_id, wrapped_key, created_at FROM tenant_data_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1";
        on_pool!(self, p => sqlx::query_as::<_, DataKeyRow>(sql).bind(tenant.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read current data key", e))?
            .ok_or(StoreError::NotFound { entity: "tenant data key" })?
            .try_into()
    }

    /// Records a stored artifact's metadata.
    ///
    /// # Errors
    /// `NotFound` if the case is not the tenant's, or the data key is not the tenant's
    /// (the schema ties all three); `Conflict` if the blob key is already used;
    /// `Invalid` for a bad name, rules version or report.
    pub async fn create_artifact(&self, new: &NewArtifact) -> Result<Artifact, StoreError> {
        check_text("original name", &new.original_name, 255)?;
        check_text("rules version", &new.rules_version, 64)?;
        check_json("report_json", &new.report_json, false)?;
        let size = i64::try_from(new.size).map_err(|_| StoreError::Invalid {
            field: "size",
            reason: "too large",
        })?;
        let a = Artifact {
            id: ArtifactId::generate()?,
            case_id: new.case_id.clone(),
            tenant_id: new.tenant_id.clone(),
            kind: new.kind,
            original_name: new.original_name.clone(),
            size: new.size,
            sanitized_sha256: new.sanitized_sha256,
            input_sha256: new.input_sha256,
            report_json: new.report_json.clone(),
            rules_version: new.rules_version.clone(),
            blob_key: new.blob_key.clone(),
            data_key_id: new.data_key_id.clone(),
            created_at: new.created_at,
        };
        let sql = format!(
            "INSERT INTO artifacts ({ARTIFACT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(self, p => sqlx::query(&sql)
            .bind(a.id.as_str())
            .bind(a.case_id.as_str())
            .bind(a.tenant_id.as_str())
            .bind(a.kind.as_str())
            .bind(&a.original_name)
            .bind(size)
            .bind(&a.sanitized_sha256[..])
            .bind(&a.input_sha256[..])
            .bind(&a.report_json)
            .bind(&a.rules_version)
            .bind(a.blob_key.as_str())
            .bind(a.data_key_id.as_str())
            .bind(a.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| {
            write_error(
                "create artifact",
                "artifact",
                "case of that tenant, or data key of that tenant",
                e,
            )
        })?;
        Ok(a)
    }

    /// Reads an artifact's metadata.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn artifact(&self, id: &ArtifactId) -> Result<Artifact, StoreError> {
        let sql = format!("SELECT {ARTIFACT_COLS} FROM artifacts WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, ArtifactRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read artifact", e))?
            .ok_or(StoreError::NotFound { entity: "artifact" })?
            .try_into()
    }

    /// Lists a case's artifacts, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_case_artifacts(&self, case: &CaseId) -> Result<Vec<Artifact>, StoreError> {
        self.list_artifacts_where("case_id", case.as_str()).await
    }

    /// Lists a tenant's artifacts, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_tenant_artifacts(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<Artifact>, StoreError> {
        self.list_artifacts_where("tenant_id", tenant.as_str())
            .await
    }

    /// Lists the artifacts sanitized under any rules version other than `current`
    /// (the ones to re-scan after a rules change, DESIGN §2 I1), oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_artifacts_not_on_rules(
        &self,
        current: &str,
    ) -> Result<Vec<Artifact>, StoreError> {
        let sql = format!(
            "SELECT {ARTIFACT_COLS} FROM artifacts WHERE rules_version <> $1 ORDER BY created_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, ArtifactRow>(&sql).bind(current).fetch_all(p).await)
            .map_err(|e| backend("list artifacts", e))?;
        rows.into_iter().map(Artifact::try_from).collect()
    }

    /// Deletes an artifact's metadata and returns it (the caller then deletes the blob).
    ///
    /// # Errors
    /// `NotFound` if there is no such artifact, `Conflict` if exports still refer to it.
    pub async fn delete_artifact(&self, id: &ArtifactId) -> Result<Artifact, StoreError> {
        let sql = format!("DELETE FROM artifacts WHERE id = $1 RETURNING {ARTIFACT_COLS}");
        let row = on_pool!(self, p => sqlx::query_as::<_, ArtifactRow>(&sql).bind(id.as_str()).fetch_optional(p).await);
        match row {
            Ok(row) => row
                .ok_or(StoreError::NotFound { entity: "artifact" })?
                .try_into(),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::Conflict {
                    entity: "artifact",
                    reason: "exports refer to it",
                })
            }
            Err(e) => Err(backend("delete artifact", e)),
        }
    }

    /// `column` is one of two literals above, never caller input.
    async fn list_artifacts_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Vec<Artifact>, StoreError> {
        let sql = format!(
            "SELECT {ARTIFACT_COLS} FROM artifacts WHERE {column} = $1 ORDER BY created_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, ArtifactRow>(&sql).bind(value).fetch_all(p).await)
            .map_err(|e| backend("list artifacts", e))?;
        rows.into_iter().map(Artifact::try_from).collect()
    }
}
