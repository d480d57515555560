//! Tenants and principals (with approver groups and service-account scopes).

use sqlx::FromRow;

use crate::db::{backend, check_name, check_text, in_tx, on_pool, write_error};
use crate::{
    NewPrincipal, NewTenant, Principal, PrincipalClass, PrincipalId, ServiceScope, Store,
    StoreError, SupportMode, Tenant, TenantId,
};

#[derive(FromRow)]
struct TenantRow {
    id: String,
    name: String,
    support_mode: String,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: TenantId::from_db(r.id)?,
            name: r.name,
            support_mode: SupportMode::from_db(&r.support_mode)?,
            created_at: r.created_at,
        })
    }
}

#[derive(FromRow)]
struct PrincipalRow {
    id: String,
    class: String,
    tenant_id: Option<String>,
    display_name: String,
    service_function: Option<String>,
    suspended: bool,
    created_at: i64,
}

const TENANT_COLS: &str = "id, name, support_mode, created_at";
const PRINCIPAL_COLS: &str =
    "id, class, tenant_id, display_name, service_function, suspended, created_at";

impl Store {
    /// Creates a tenant.
    ///
    /// # Errors
    /// `Conflict` if the name is taken, `Invalid` for a bad name.
    pub async fn create_tenant(&self, new: &NewTenant) -> Result<Tenant, StoreError> {
        check_text("tenant name", &new.name, 256)?;
        let tenant = Tenant {
            id: TenantId::generate()?,
            name: new.name.clone(),
            support_mode: new.support_mode,
            created_at: new.created_at,
        };
        let sql =
            "INSERT INTO tenants (id, name, support_mode, created_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(tenant.id.as_str())
            .bind(&tenant.name)
            .bind(tenant.support_mode.as_str())
            .bind(tenant.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create tenant", "tenant", "tenant", e))?;
        Ok(tenant)
    }

    /// Reads a tenant.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, StoreError> {
        let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1");
        let row = on_pool!(self, p => sqlx::query_as::<_, TenantRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read tenant", e))?;
        row.ok_or(StoreError::NotFound { entity: "tenant" })?
            .try_into()
    }

    /// Lists every tenant, by name.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = format!("SELECT {TENANT_COLS} FROM tenants ORDER BY name");
        let rows = on_pool!(self, p => sqlx::query_as::<_, TenantRow>(&sql).fetch_all(p).await)
            .map_err(|e| backend("list tenants", e))?;
        rows.into_iter().map(Tenant::try_from).collect()
    }

    /// Sets a tenant's support-access mode and returns the updated tenant.
    ///
    /// # Errors
    /// `NotFound` if there is no such tenant.
    pub async fn set_support_mode(
        &self,
        id: &TenantId,
        mode: SupportMode,
    ) -> Result<Tenant, StoreError> {
        let sql =
            format!("UPDATE tenants SET support_mode = $2 WHERE id = $1 RETURNING {TENANT_COLS}");
        let row = on_pool!(self, p => sqlx::query_as::<_, TenantRow>(&sql)
            .bind(id.as_str())
            .bind(mode.as_str())
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("set support mode", e))?;
        row.ok_or(StoreError::NotFound { entity: "tenant" })?
            .try_into()
    }

    /// Creates a principal with its groups and, for a service account, its scope, in one
    /// transaction.
    ///
    /// # Errors
    /// `Invalid` when tenant or scope do not fit the class, or a name is malformed;
    /// `NotFound` if a tenant does not exist.
    pub async fn create_principal(&self, new: &NewPrincipal) -> Result<Principal, StoreError> {
        let principal = check_new_principal(new)?;
        let op = "create principal";
        in_tx!(self, "create principal", tx => async {
            sqlx::query("INSERT INTO principals (id, class, tenant_id, display_name, service_function, suspended, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(principal.id.as_str())
                .bind(principal.class.as_str())
                .bind(principal.tenant_id.as_ref().map(TenantId::as_str))
                .bind(&principal.display_name)
                .bind(principal.service.as_ref().map(|s| s.function.as_str()))
                .bind(false)
                .bind(principal.created_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| write_error(op, "principal", "tenant", e))?;
            for group in &principal.groups {
                sqlx::query("INSERT INTO principal_groups (principal_id, group_name) VALUES ($1, $2)")
                    .bind(principal.id.as_str())
                    .bind(group)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(op, "principal group", "principal", e))?;
            }
            for tenant in principal.service.iter().flat_map(|s| &s.tenants) {
                sqlx::query("INSERT INTO service_account_tenants (principal_id, principal_class, tenant_id) VALUES ($1, 'service_account', $2)")
                    .bind(principal.id.as_str())
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(op, "service account tenant", "tenant", e))?;
            }
            Ok(())
        }.await)?;
        Ok(principal)
    }

    /// Reads a principal with its groups and scope.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn principal(&self, id: &PrincipalId) -> Result<Principal, StoreError> {
        let sql = format!("SELECT {PRINCIPAL_COLS} FROM principals WHERE id = $1");
        let row = on_pool!(self, p => sqlx::query_as::<_, PrincipalRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read principal", e))?
            .ok_or(StoreError::NotFound { entity: "principal" })?;
        self.hydrate_principal(row).await
    }

    /// Lists principals, optionally only those of one class, by id.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_principals(
        &self,
        class: Option<PrincipalClass>,
    ) -> Result<Vec<Principal>, StoreError> {
        let sql = format!(
            "SELECT {PRINCIPAL_COLS} FROM principals WHERE ($1 IS NULL OR class = $1) ORDER BY id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, PrincipalRow>(&sql)
            .bind(class.map(PrincipalClass::as_str))
            .fetch_all(p)
            .await)
        .map_err(|e| backend("list principals", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.hydrate_principal(row).await?);
        }
        Ok(out)
    }

    /// Lists the customer admins of one tenant, by id.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_tenant_admins(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<Principal>, StoreError> {
        let sql = format!(
            "SELECT {PRINCIPAL_COLS} FROM principals WHERE tenant_id = $1 AND class = 'customer_admin' ORDER BY id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, PrincipalRow>(&sql).bind(tenant.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list tenant admins", e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.hydrate_principal(row).await?);
        }
        Ok(out)
    }

    /// Suspends or reinstates a principal and returns it.
    ///
    /// # Errors
    /// `NotFound` if there is no such principal.
    pub async fn set_suspended(
        &self,
        id: &PrincipalId,
        suspended: bool,
    ) -> Result<Principal, StoreError> {
        let sql = format!(
            "UPDATE principals SET suspended = $2 WHERE id = $1 RETURNING {PRINCIPAL_COLS}"
        );
        let row = on_pool!(self, p => sqlx::query_as::<_, PrincipalRow>(&sql)
            .bind(id.as_str())
            .bind(suspended)
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("set suspended", e))?
        .ok_or(StoreError::NotFound {
            entity: "principal",
        })?;
        self.hydrate_principal(row).await
    }

    /// Replaces a principal's approver groups, atomically.
    ///
    /// # Errors
    /// `NotFound` if there is no such principal, `Invalid` for a malformed group.
    pub async fn set_groups(
        &self,
        id: &PrincipalId,
        groups: &[String],
    ) -> Result<Principal, StoreError> {
        let groups = normalise_groups(groups)?;
        in_tx!(self, "set groups", tx => async {
            sqlx::query("DELETE FROM principal_groups WHERE principal_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| backend("set groups", e))?;
            for group in &groups {
                sqlx::query("INSERT INTO principal_groups (principal_id, group_name) VALUES ($1, $2)")
                    .bind(id.as_str())
                    .bind(group)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error("set groups", "principal group", "principal", e))?;
            }
            Ok(())
        }.await)?;
        self.principal(id).await
    }

    /// Replaces a service account's scope (function and tenant list) atomically and
    /// returns the account.
    ///
    /// # Errors
    /// `NotFound` if there is no such service account (or tenant), `Invalid` for a
    /// malformed function.
    pub async fn set_service_scope(
        &self,
        id: &PrincipalId,
        scope: &ServiceScope,
    ) -> Result<Principal, StoreError> {
        check_name("service function", &scope.function, true)?;
        let mut tenants = scope.tenants.clone();
        tenants.sort();
        tenants.dedup();
        let op = "set service scope";
        in_tx!(self, "set service scope", tx => async {
            let updated = sqlx::query("UPDATE principals SET service_function = $2 WHERE id = $1 AND class = 'service_account'")
                .bind(id.as_str())
                .bind(&scope.function)
                .execute(&mut *tx)
                .await
                .map_err(|e| backend(op, e))?;
            if updated.rows_affected() != 1 {
                return Err(StoreError::NotFound { entity: "service account" });
            }
            sqlx::query("DELETE FROM service_account_tenants WHERE principal_id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| backend(op, e))?;
            for tenant in &tenants {
                sqlx::query("INSERT INTO service_account_tenants (principal_id, principal_class, tenant_id) VALUES ($1, 'service_account', $2)")
                    .bind(id.as_str())
                    .bind(tenant.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| write_error(op, "service account tenant", "tenant", e))?;
            }
            Ok(())
        }.await)?;
        self.principal(id).await
    }

    /// Adds the groups and service scope to a principal row.
    async fn hydrate_principal(&self, row: PrincipalRow) -> Result<Principal, StoreError> {
        let groups: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT group_name FROM principal_groups WHERE principal_id = $1 ORDER BY group_name")
            .bind(&row.id)
            .fetch_all(p)
            .await)
        .map_err(|e| backend("read principal groups", e))?;
        let service = match row.service_function {
            None => None,
            Some(function) => {
                let tenants: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
                    "SELECT tenant_id FROM service_account_tenants WHERE principal_id = $1 ORDER BY tenant_id")
                    .bind(&row.id)
                    .fetch_all(p)
                    .await)
                .map_err(|e| backend("read service scope", e))?;
                let tenants = tenants
                    .into_iter()
                    .map(|(t,)| TenantId::from_db(t))
                    .collect::<Result<_, _>>()?;
                Some(ServiceScope { function, tenants })
            }
        };
        Ok(Principal {
            id: PrincipalId::from_db(row.id)?,
            class: PrincipalClass::from_db(&row.class)?,
            tenant_id: row.tenant_id.map(TenantId::from_db).transpose()?,
            display_name: row.display_name,
            groups: groups.into_iter().map(|(g,)| g).collect(),
            service,
            suspended: row.suspended,
            created_at: row.created_at,
        })
    }
}

/// Sorts, de-duplicates and checks approver group names.
fn normalise_groups(groups: &[String]) -> Result<Vec<String>, StoreError> {
    for group in groups {
        check_name("group", group, false)?;
    }
    let mut groups = groups.to_vec();
    groups.sort();
    groups.dedup();
    Ok(groups)
}

/// Checks the class rules of a new principal and builds the record to insert.
fn check_new_principal(new: &NewPrincipal) -> Result<Principal, StoreError> {
    check_text("display name", &new.display_name, 256)?;
    let admin = new.class == PrincipalClass::CustomerAdmin;
    if admin != new.tenant_id.is_some() {
        return Err(StoreError::Invalid {
            field: "tenant_id",
            reason: "required for customer admins and not allowed for any other class",
        });
    }
    let service_account = new.class == PrincipalClass::ServiceAccount;
    if service_account != new.service.is_some() {
        return Err(StoreError::Invalid {
            field: "service",
            reason: "required for service accounts and not allowed for any other class",
        });
    }
    let service = match &new.service {
        None => None,
        Some(scope) => {
            check_name("service function", &scope.function, true)?;
            let mut tenants = scope.tenants.clone();
            tenants.sort();
            tenants.dedup();
            Some(ServiceScope {
                function: scope.function.clone(),
                tenants,
            })
        }
    };
    Ok(Principal {
        id: PrincipalId::generate()?,
        class: new.class,
        tenant_id: new.tenant_id.clone(),
        display_name: new.display_name.clone(),
        groups: normalise_groups(&new.groups)?,
        service,
        suspended: false,
        created_at: new.created_at,
    })
}
