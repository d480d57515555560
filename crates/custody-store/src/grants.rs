//! Just-in-time grants, approval requests and signed approvals (DESIGN §7).
//!
//! A grant becomes `approved` only through [`Store::complete_approval`], in the same
//! transaction that closes its approval request, and only if the grant's request hash
//! equals the one the approvers signed. The schema refuses an approval by the requester
//! and a second approval by the same approver; an approval whose hash differs from the
//! request's is refused too.

use sqlx::FromRow;

use crate::db::{
    backend, check_json, check_name, check_window, digest, in_tx, on_pool, write_error,
};
use crate::{
    Approval, ApprovalRequest, ApprovalRequestId, ApprovalStatus, CaseId, Grant, GrantId,
    GrantStatus, NewApproval, NewApprovalRequest, NewGrant, PrincipalId, Store, StoreError,
    TenantId,
};

#[derive(FromRow)]
struct GrantRow {
    id: String,
    agent_id: String,
    tenant_id: String,
    case_id: String,
    actions: String,
    requested_at: i64,
    expires_at: i64,
    status: String,
    request_hash: Vec<u8>,
    decided_at: Option<i64>,
}

impl TryFrom<GrantRow> for Grant {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        let actions: Vec<String> =
            serde_json::from_str(&r.actions).map_err(|_| StoreError::Corrupt {
                entity: "grant",
                reason: "actions are not a JSON list of strings",
            })?;
        Ok(Grant {
            id: GrantId::from_db(r.id)?,
            agent_id: PrincipalId::from_db(r.agent_id)?,
            tenant_id: TenantId::from_db(r.tenant_id)?,
            case_id: CaseId::from_db(r.case_id)?,
            actions,
            requested_at: r.requested_at,
            expires_at: r.expires_at,
            status: GrantStatus::from_db(&r.status)?,
            request_hash: digest("grant", r.request_hash)?,
            decided_at: r.decided_at,
        })
    }
}

#[derive(FromRow)]
struct RequestRow {
    id: String,
    action: String,
    tenant_id: Option<String>,
    request_hash: Vec<u8>,
    requester_id: String,
    parameters_json: String,
    grant_id: Option<String>,
    status: String,
    created_at: i64,
    expires_at: i64,
    decided_at: Option<i64>,
}

impl TryFrom<RequestRow> for ApprovalRequest {
    type Error = StoreError;
    fn try_from(r: RequestRow) -> Result<Self, StoreError> {
        Ok(ApprovalRequest {
            id: ApprovalRequestId::from_db(r.id)?,
            action: r.action,
            tenant_id: r.tenant_id.map(TenantId::from_db).transpose()?,
            request_hash: digest("approval request", r.request_hash)?,
            requester_id: PrincipalId::from_db(r.requester_id)?,
            parameters_json: r.parameters_json,
            grant_id: r.grant_id.map(GrantId::from_db).transpose()?,
            status: ApprovalStatus::from_db(&r.status)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
        })
    }
}

#[derive(FromRow)]
struct ApprovalRow {
    request_id: String,
    approver_id: String,
    group_name: String,
    signature: Vec<u8>,
    approved_at: i64,
}

const GRANT_COLS: &str = "id, agent_id, tenant_id, case_id, actions, requested_at, expires_at, status, request_hash, decided_at";
const REQUEST_COLS: &str = "id, action, tenant_id, request_hash, requester_id, parameters_json, grant_id, status, created_at, expires_at, decided_at";

/// Sorts, de-duplicates and checks grant actions.
fn normalise_actions(actions: &[String]) -> Result<Vec<String>, StoreError> {
    if actions.is_empty() {
        return Err(StoreError::Invalid {
            field: "actions",
            reason: "at least one action is required",
        });
    }
    for action in actions {
        check_name("action", action, true)?;
    }
    let mut actions = actions.to_vec();
    actions.sort();
    actions.dedup();
    Ok(actions)
}

impl Store {
    /// Records a grant request (status `requested`).
    ///
    /// # Errors
    /// `NotFound` if the principal is not a support agent or the case is not the
    /// tenant's; `Invalid` for bad actions or an empty window.
    pub async fn create_grant(&self, new: &NewGrant) -> Result<Grant, StoreError> {
        check_window("expires_at", new.requested_at, new.expires_at)?;
        let actions = normalise_actions(&new.actions)?;
        let actions_json = serde_json::to_string(&actions).map_err(|_| StoreError::Invalid {
            field: "actions",
            reason: "cannot be encoded",
        })?;
        let grant = Grant {
            id: GrantId::generate()?,
            agent_id: new.agent_id.clone(),
            tenant_id: new.tenant_id.clone(),
            case_id: new.case_id.clone(),
            actions,
            requested_at: new.requested_at,
            expires_at: new.expires_at,
            status: GrantStatus::Requested,
            request_hash: new.request_hash,
            decided_at: None,
        };
        let sql = "INSERT INTO grants (id, agent_id, agent_class, tenant_id, case_id, actions, requested_at, expires_at, status, request_hash) VALUES ($1, $2, 'support_agent', $3, $4, $5, $6, $7, 'requested', $8)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(grant.id.as_str())
            .bind(grant.agent_id.as_str())
            .bind(grant.tenant_id.as_str())
            .bind(grant.case_id.as_str())
            .bind(&actions_json)
            .bind(grant.requested_at)
            .bind(grant.expires_at)
            .bind(&grant.request_hash[..])
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| {
            write_error(
                "create grant",
                "grant",
                "support agent, or case of that tenant",
                e,
            )
        })?;
        Ok(grant)
    }

    /// Reads a grant.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn grant(&self, id: &GrantId) -> Result<Grant, StoreError> {
        let sql = format!("SELECT {GRANT_COLS} FROM grants WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, GrantRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read grant", e))?
            .ok_or(StoreError::NotFound { entity: "grant" })?
            .try_into()
    }

    /// Lists an agent's grants, oldest first; with `active_at = Some(t)`, only those
    /// approved with `requested_at <= t < expires_at`.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_agent_grants(
        &self,
        agent: &PrincipalId,
        active_at: Option<i64>,
    ) -> Result<Vec<Grant>, StoreError> {
        let sql = format!(
            "SELECT {GRANT_COLS} FROM grants WHERE agent_id = $1 AND ($2 IS NULL OR (status = 'approved' AND requested_at <= $2 AND expires_at > $2)) ORDER BY requested_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(&sql).bind(agent.as_str()).bind(active_at).fetch_all(p).await)
            .map_err(|e| backend("list grants", e))?;
        rows.into_iter().map(Grant::try_from).collect()
    }

    /// Moves a grant from `from` to `to` at `now`, atomically (compare-and-set).
    /// Approval is not reachable this way: use [`Store::complete_approval`].
    ///
    /// # Errors
    /// `Invalid` if `to` is `approved` or `requested`, `NotFound` if there is no such
    /// grant, `Conflict` if its status is not `from`.
    pub async fn set_grant_status(
        &self,
        id: &GrantId,
        from: GrantStatus,
        to: GrantStatus,
        now: i64,
    ) -> Result<Grant, StoreError> {
        if matches!(to, GrantStatus::Approved | GrantStatus::Requested) {
            return Err(StoreError::Invalid {
                field: "status",
                reason: "grants are approved only by complete_approval",
            });
        }
        let sql = format!(
            "UPDATE grants SET status = $3, decided_at = $4 WHERE id = $1 AND status = $2 RETURNING {GRANT_COLS}"
        );
        let row = on_pool!(self, p => sqlx::query_as::<_, GrantRow>(&sql)
            .bind(id.as_str())
            .bind(from.as_str())
            .bind(to.as_str())
            .bind(now)
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("set grant status", e))?;
        match row {
            Some(r) => r.try_into(),
            None => {
                self.grant(id).await?;
                Err(StoreError::Conflict {
                    entity: "grant",
                    reason: "status is not the expected one",
                })
            }
        }
    }

    /// Opens an approval request (status `pending`).
    ///
    /// # Errors
    /// `NotFound` if the requester, tenant or grant does not exist; `Conflict` if the
    /// grant already has a request; `Invalid` for a bad action, parameters or window.
    pub async fn create_approval_request(
        &self,
        new: &NewApprovalRequest,
    ) -> Result<ApprovalRequest, StoreError> {
        check_name("action", &new.action, true)?;
        check_json("parameters_json", &new.parameters_json, false)?;
        check_window("expires_at", new.created_at, new.expires_at)?;
        let req = ApprovalRequest {
            id: ApprovalRequestId::generate()?,
            action: new.action.clone(),
            tenant_id: new.tenant_id.clone(),
            request_hash: new.request_hash,
            requester_id: new.requester_id.clone(),
            parameters_json: new.parameters_json.clone(),
            grant_id: new.grant_id.clone(),
            status: ApprovalStatus::Pending,
            created_at: new.created_at,
            expires_at: new.expires_at,
            decided_at: None,
        };
        let sql = "INSERT INTO approval_requests (id, action, tenant_id, request_hash, requester_id, parameters_json, grant_id, status, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(req.id.as_str())
            .bind(&req.action)
            .bind(req.tenant_id.as_ref().map(TenantId::as_str))
            .bind(&req.request_hash[..])
            .bind(req.requester_id.as_str())
            .bind(&req.parameters_json)
            .bind(req.grant_id.as_ref().map(GrantId::as_str))
            .bind(req.created_at)
            .bind(req.expires_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| {
            write_error(
                "create approval request",
                "approval request",
                "requester, tenant or grant",
                e,
            )
        })?;
        Ok(req)
    }

    /// Reads an approval request.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn approval_request(
        &self,
        id: &ApprovalRequestId,
    ) -> Result<ApprovalRequest, StoreError> {
        let sql = format!("SELECT {REQUEST_COLS} FROM approval_requests WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, RequestRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read approval request", e))?
            .ok_or(StoreError::NotFound { entity: "approval request" })?
            .try_into()
    }

    /// Records one approver's signed approval, only while the request is pending and
    /// unexpired, and only over the request's own hash.
    ///
    /// # Errors
    /// `NotFound` (request or approver), `Conflict` (the approver is the requester, has
    /// already approved, the hash differs, or the request is no longer pending),
    /// `Expired` (outside the request's window), `Invalid` (bad group, empty signature).
    pub async fn add_approval(&self, new: &NewApproval) -> Result<Approval, StoreError> {
        check_name("group", &new.group, false)?;
        if new.signature.is_empty() {
            return Err(StoreError::Invalid {
                field: "signature",
                reason: "must not be empty",
            });
        }
        let sql = "INSERT INTO approvals (request_id, requester_id, request_hash, approver_id, group_name, signature, approved_at) \
                   SELECT id, requester_id, request_hash, $2, $3, $4, $5 FROM approval_requests \
                   WHERE id = $1 AND request_hash = $6 AND status = 'pending' AND created_at <= $5 AND expires_at > $5";
        let inserted = on_pool!(self, p => sqlx::query(sql)
            .bind(new.request_id.as_str())
            .bind(new.approver_id.as_str())
            .bind(&new.group)
            .bind(&new.signature)
            .bind(new.approved_at)
            .bind(&new.request_hash[..])
            .execute(p)
            .await
            .map(|r| r.rows_affected()));
        let entity = "approval";
        match inserted {
            Ok(1) => Ok(Approval {
                request_id: new.request_id.clone(),
                approver_id: new.approver_id.clone(),
                group: new.group.clone(),
                signature: new.signature.clone(),
                approved_at: new.approved_at,
            }),
            Ok(_) => {
                let req = self.approval_request(&new.request_id).await?;
                Err(if req.request_hash != new.request_hash {
                    StoreError::Conflict {
                        entity,
                        reason: "the approval is over another request hash",
                    }
                } else if req.status != ApprovalStatus::Pending {
                    StoreError::Conflict {
                        entity,
                        reason: "the request is no longer pending",
                    }
                } else {
                    StoreError::Expired {
                        entity: "approval request",
                    }
                })
            }
            Err(sqlx::Error::Database(db)) if db.is_check_violation() => {
                Err(StoreError::Conflict {
                    entity,
                    reason: "the requester cannot approve its own request",
                })
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict {
                    entity,
                    reason: "this approver has already approved",
                })
            }
            Err(e) => Err(write_error("add approval", entity, "approver", e)),
        }
    }

    /// Lists a request's approvals, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_approvals(
        &self,
        request: &ApprovalRequestId,
    ) -> Result<Vec<Approval>, StoreError> {
        let sql = "SELECT request_id, approver_id, group_name, signature, approved_at FROM approvals WHERE request_id = $1 ORDER BY approved_at, approver_id";
        let rows = on_pool!(self, p => sqlx::query_as::<_, ApprovalRow>(sql).bind(request.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list approvals", e))?;
        rows.into_iter()
            .map(|r| {
                Ok(Approval {
                    request_id: ApprovalRequestId::from_db(r.request_id)?,
                    approver_id: PrincipalId::from_db(r.approver_id)?,
                    group: r.group_name,
                    signature: r.signature,
                    approved_at: r.approved_at,
                })
            })
            .collect()
    }

    /// Closes a pending, unexpired request as `approved` (`approve = true`) or `denied`
    /// and, if it belongs to a grant, moves the grant from `requested` to the same
    /// outcome in the same transaction. An approved grant must carry the request's hash
    /// and still be inside its window. The caller checks the quorum first.
    ///
    /// # Errors
    /// `NotFound` for an unknown request, `Conflict` if it is not pending or its grant
    /// is not `requested` or carries another hash, `Expired` outside the window (for
    /// approval; a denial is always allowed while pending). Nothing changes on error.
    pub async fn complete_approval(
        &self,
        id: &ApprovalRequestId,
        approve: bool,
        now: i64,
    ) -> Result<(ApprovalRequest, Option<Grant>), StoreError> {
        let op = "complete approval";
        let status = if approve { "approved" } else { "denied" };
        let req_sql = format!(
            "UPDATE approval_requests SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'pending' AND ($4 = 0 OR (created_at <= $3 AND expires_at > $3)) RETURNING {REQUEST_COLS}"
        );
        let grant_sql = format!(
            "UPDATE grants SET status = $2, decided_at = $3 WHERE id = $1 AND status = 'requested' AND request_hash = $4 AND ($5 = 0 OR expires_at > $3) RETURNING {GRANT_COLS}"
        );
        let outcome = in_tx!(self, "complete approval", tx => async {
            let Some(row) = sqlx::query_as::<_, RequestRow>(&req_sql)
                .bind(id.as_str()).bind(status).bind(now).bind(i64::from(approve))
                .fetch_optional(&mut *tx).await.map_err(|e| backend(op, e))?
            else {
                return Ok(None);
            };
            let req = ApprovalRequest::try_from(row)?;
            let Some(grant_id) = &req.grant_id else {
                return Ok(Some((req, None)));
            };
            let grant = sqlx::query_as::<_, GrantRow>(&grant_sql)
                .bind(grant_id.as_str()).bind(status).bind(now).bind(&req.request_hash[..]).bind(i64::from(approve))
                .fetch_optional(&mut *tx).await.map_err(|e| backend(op, e))?
                .ok_or(StoreError::Conflict { entity: "grant", reason: "not awaiting approval, expired, or over another request hash" })?;
            Ok(Some((req, Some(Grant::try_from(grant)?))))
        }.await)?;
        match outcome {
            Some(done) => Ok(done),
            None => {
                let req = self.approval_request(id).await?;
                Err(if req.status == ApprovalStatus::Pending {
                    StoreError::Expired {
                        entity: "approval request",
                    }
                } else {
                    StoreError::Conflict {
                        entity: "approval request",
                        reason: "no longer pending",
                    }
                })
            }
        }
    }
}
