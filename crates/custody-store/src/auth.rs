//! Devices, one-time enrolment codes, sign-in challenges and sessions (DESIGN §6).
//!
//! Codes and nonces are stored only as SHA-256 hashes, and consumed by one conditional
//! `UPDATE ... RETURNING`, so of two concurrent callers exactly one succeeds.

use sqlx::FromRow;

use crate::db::{backend, check_json, check_window, digest, on_pool, write_error};
use crate::{
    Device, DeviceId, DeviceStatus, Digest, EnrolmentCode, NewDevice, NewSession, PrincipalClass,
    PrincipalId, Session, SessionId, SignInChallenge, Store, StoreError,
};

#[derive(FromRow)]
struct DeviceRow {
    id: String,
    principal_id: String,
    hpke_public_jwk: String,
    pop_public_jwk: String,
    pop_jkt: Vec<u8>,
    status: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(Device {
            id: DeviceId::from_db(r.id)?,
            principal_id: PrincipalId::from_db(r.principal_id)?,
            hpke_public_jwk: r.hpke_public_jwk,
            pop_public_jwk: r.pop_public_jwk,
            pop_jkt: digest("device", r.pop_jkt)?,
            status: DeviceStatus::from_db(&r.status)?,
            created_at: r.created_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(FromRow)]
struct SessionRow {
    id: String,
    principal_id: String,
    device_id: String,
    class: String,
    network_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: SessionId::from_db(r.id)?,
            principal_id: PrincipalId::from_db(r.principal_id)?,
            device_id: DeviceId::from_db(r.device_id)?,
            class: PrincipalClass::from_db(&r.class)?,
            network_hash: digest("session", r.network_hash)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// The columns of a single-use row (enrolment code or challenge) after a consume attempt.
#[derive(FromRow)]
struct UseRow {
    owner: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

const DEVICE_COLS: &str =
    "id, principal_id, hpke_public_jwk, pop_public_jwk, pop_jkt, status, created_at, revoked_at";
const SESSION_COLS: &str =
    "id, principal_id, device_id, class, network_hash, created_at, expires_at, revoked_at";

/// Why a single-use row could not be consumed; read after the conditional update failed.
fn classify_use(entity: &'static str, row: Option<UseRow>, now: i64) -> StoreError {
    match row {
        None => StoreError::NotFound { entity },
        Some(r) if r.used_at.is_some() => StoreError::Conflict {
            entity,
            reason: "already used",
        },
        Some(r) if now >= r.expires_at || now < r.created_at => StoreError::Expired { entity },
        // Raced with a concurrent consume between the update and this read.
        Some(_) => StoreError::Conflict {
            entity,
            reason: "already used",
        },
    }
}

impl Store {
    /// Registers a device for a principal; it starts `active`.
    ///
    /// # Errors
    /// `NotFound` if the principal does not exist, `Conflict` if the PoP key thumbprint
    /// is already registered, `Invalid` if a JWK is not a JSON object.
    pub async fn create_device(&self, new: &NewDevice) -> Result<Device, StoreError> {
        check_json("hpke_public_jwk", &new.hpke_public_jwk, true)?;
        check_json("pop_public_jwk", &new.pop_public_jwk, true)?;
        let device = Device {
            id: DeviceId::generate()?,
            principal_id: new.principal_id.clone(),
            hpke_public_jwk: new.hpke_public_jwk.clone(),
            pop_public_jwk: new.pop_public_jwk.clone(),
            pop_jkt: new.pop_jkt,
            status: DeviceStatus::Active,
            created_at: new.created_at,
            revoked_at: None,
        };
        let sql = "INSERT INTO devices (id, principal_id, hpke_public_jwk, pop_public_jwk, pop_jkt, status, created_at) VALUES ($1, $2, $3, $4, $5, 'active', $6)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(device.id.as_str())
            .bind(device.principal_id.as_str())
            .bind(&device.hpke_public_jwk)
            .bind(&device.pop_public_jwk)
            .bind(&device.pop_jkt[..])
            .bind(device.created_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create device", "device", "principal", e))?;
        Ok(device)
    }

    /// Reads a device.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn device(&self, id: &DeviceId) -> Result<Device, StoreError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, DeviceRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read device", e))?
            .ok_or(StoreError::NotFound { entity: "device" })?
            .try_into()
    }

    /// Finds the device whose PoP key has this RFC 7638 thumbprint.
    ///
    /// # Errors
    /// `NotFound` if no device has it.
    pub async fn device_by_jkt(&self, jkt: &Digest) -> Result<Device, StoreError> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE pop_jkt = $1");
        on_pool!(self, p => sqlx::query_as::<_, DeviceRow>(&sql).bind(&jkt[..]).fetch_optional(p).await)
            .map_err(|e| backend("read device", e))?
            .ok_or(StoreError::NotFound { entity: "device" })?
            .try_into()
    }

    /// Lists a principal's devices, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_devices(&self, principal: &PrincipalId) -> Result<Vec<Device>, StoreError> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE principal_id = $1 ORDER BY created_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, DeviceRow>(&sql).bind(principal.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list devices", e))?;
        rows.into_iter().map(Device::try_from).collect()
    }

    /// Revokes an active device at `now` and returns it.
    ///
    /// # Errors
    /// `NotFound` if there is no such device, `Conflict` if it is already revoked.
    pub async fn revoke_device(&self, id: &DeviceId, now: i64) -> Result<Device, StoreError> {
        let sql = format!(
            "UPDATE devices SET status = 'revoked', revoked_at = $2 WHERE id = $1 AND status = 'active' RETURNING {DEVICE_COLS}"
        );
        let row = on_pool!(self, p => sqlx::query_as::<_, DeviceRow>(&sql).bind(id.as_str()).bind(now).fetch_optional(p).await)
            .map_err(|e| backend("revoke device", e))?;
        match row {
            Some(r) => r.try_into(),
            None => {
                self.device(id).await?;
                Err(StoreError::Conflict {
                    entity: "device",
                    reason: "already revoked",
                })
            }
        }
    }

    /// Stores a one-time enrolment code by its SHA-256 hash.
    ///
    /// # Errors
    /// `NotFound` if the principal does not exist, `Conflict` if the hash exists,
    /// `Invalid` if the window is empty.
    pub async fn create_enrolment_code(
        &self,
        code_hash: &Digest,
        principal: &PrincipalId,
        created_at: i64,
        expires_at: i64,
    ) -> Result<EnrolmentCode, StoreError> {
        check_window("expires_at", created_at, expires_at)?;
        let sql = "INSERT INTO enrolment_codes (code_hash, principal_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(&code_hash[..])
            .bind(principal.as_str())
            .bind(created_at)
            .bind(expires_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create enrolment code", "enrolment code", "principal", e))?;
        Ok(EnrolmentCode {
            code_hash: *code_hash,
            principal_id: principal.clone(),
            created_at,
            expires_at,
            used_at: None,
        })
    }

    /// Consumes an enrolment code atomically: only one caller ever gets it, and only
    /// inside `[created_at, expires_at)`.
    ///
    /// # Errors
    /// `NotFound` for an unknown hash, `Conflict` if already used, `Expired` outside
    /// its window.
    pub async fn consume_enrolment_code(
        &self,
        code_hash: &Digest,
        now: i64,
    ) -> Result<EnrolmentCode, StoreError> {
        let sql = "UPDATE enrolment_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND created_at <= $2 AND expires_at > $2 RETURNING principal_id AS owner, created_at, expires_at, used_at";
        let row = on_pool!(self, p => sqlx::query_as::<_, UseRow>(sql).bind(&code_hash[..]).bind(now).fetch_optional(p).await)
            .map_err(|e| backend("consume enrolment code", e))?;
        let entity = "enrolment code";
        match row {
            Some(r) => Ok(EnrolmentCode {
                code_hash: *code_hash,
                principal_id: PrincipalId::from_db(r.owner)?,
                created_at: r.created_at,
                expires_at: r.expires_at,
                used_at: r.used_at,
            }),
            None => {
                let sql = "SELECT principal_id AS owner, created_at, expires_at, used_at FROM enrolment_codes WHERE code_hash = $1";
                let row = on_pool!(self, p => sqlx::query_as::<_, UseRow>(sql).bind(&code_hash[..]).fetch_optional(p).await)
                    .map_err(|e| backend("consume enrolment code", e))?;
                Err(classify_use(entity, row, now))
            }
        }
    }

    /// Stores a sign-in challenge for a device by the SHA-256 hash of its nonce.
    ///
    /// # Errors
    /// `NotFound` if the device does not exist, `Conflict` if the hash exists,
    /// `Invalid` if the window is empty.
    pub async fn create_challenge(
        &self,
        nonce_hash: &Digest,
        device: &DeviceId,
        created_at: i64,
        expires_at: i64,
    ) -> Result<SignInChallenge, StoreError> {
        check_window("expires_at", created_at, expires_at)?;
        let sql = "INSERT INTO sign_in_challenges (nonce_hash, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(&nonce_hash[..])
            .bind(device.as_str())
            .bind(created_at)
            .bind(expires_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| write_error("create challenge", "challenge", "device", e))?;
        Ok(SignInChallenge {
            nonce_hash: *nonce_hash,
            device_id: device.clone(),
            created_at,
            expires_at,
            used_at: None,
        })
    }

    /// Consumes a sign-in challenge atomically, only for the device it was issued to and
    /// only inside its window.
    ///
    /// # Errors
    /// `NotFound` for an unknown hash or a different device (indistinguishable, on
    /// purpose), `Conflict` if already used, `Expired` outside its window.
    pub async fn consume_challenge(
        &self,
        nonce_hash: &Digest,
        device: &DeviceId,
        now: i64,
    ) -> Result<SignInChallenge, StoreError> {
        let sql = "UPDATE sign_in_challenges SET used_at = $3 WHERE nonce_hash = $1 AND device_id = $2 AND used_at IS NULL AND created_at <= $3 AND expires_at > $3 RETURNING device_id AS owner, created_at, expires_at, used_at";
        let row = on_pool!(self, p => sqlx::query_as::<_, UseRow>(sql)
            .bind(&nonce_hash[..])
            .bind(device.as_str())
            .bind(now)
            .fetch_optional(p)
            .await)
        .map_err(|e| backend("consume challenge", e))?;
        match row {
            Some(r) => Ok(SignInChallenge {
                nonce_hash: *nonce_hash,
                device_id: DeviceId::from_db(r.owner)?,
                created_at: r.created_at,
                expires_at: r.expires_at,
                used_at: r.used_at,
            }),
            None => {
                let sql = "SELECT device_id AS owner, created_at, expires_at, used_at FROM sign_in_challenges WHERE nonce_hash = $1 AND device_id = $2";
                let row = on_pool!(self, p => sqlx::query_as::<_, UseRow>(sql).bind(&nonce_hash[..]).bind(device.as_str()).fetch_optional(p).await)
                    .map_err(|e| backend("consume challenge", e))?;
                Err(classify_use("challenge", row, now))
            }
        }
    }

    /// Creates a session.
    ///
    /// # Errors
    /// `NotFound` if the principal does not exist, the device is not the principal's, or
    /// the class is not the principal's class (the schema ties all three);
    /// `Invalid` for an empty window.
    pub async fn create_session(&self, new: &NewSession) -> Result<Session, StoreError> {
        check_window("expires_at", new.created_at, new.expires_at)?;
        let session = Session {
            id: SessionId::generate()?,
            principal_id: new.principal_id.clone(),
            device_id: new.device_id.clone(),
            class: new.class,
            network_hash: new.network_hash,
            created_at: new.created_at,
            expires_at: new.expires_at,
            revoked_at: None,
        };
        let sql = "INSERT INTO sessions (id, principal_id, device_id, class, network_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_pool!(self, p => sqlx::query(sql)
            .bind(session.id.as_str())
            .bind(session.principal_id.as_str())
            .bind(session.device_id.as_str())
            .bind(session.class.as_str())
            .bind(&session.network_hash[..])
            .bind(session.created_at)
            .bind(session.expires_at)
            .execute(p)
            .await.map(|r| r.rows_affected()))
        .map_err(|e| {
            write_error(
                "create session",
                "session",
                "principal, device of that principal, or class of that principal",
                e,
            )
        })?;
        Ok(session)
    }

    /// Reads a session.
    ///
    /// # Errors
    /// `NotFound` if there is none with this id.
    pub async fn session(&self, id: &SessionId) -> Result<Session, StoreError> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE id = $1");
        on_pool!(self, p => sqlx::query_as::<_, SessionRow>(&sql).bind(id.as_str()).fetch_optional(p).await)
            .map_err(|e| backend("read session", e))?
            .ok_or(StoreError::NotFound { entity: "session" })?
            .try_into()
    }

    /// Lists a principal's sessions, oldest first.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn list_sessions(&self, principal: &PrincipalId) -> Result<Vec<Session>, StoreError> {
        let sql = format!(
            "SELECT {SESSION_COLS} FROM sessions WHERE principal_id = $1 ORDER BY created_at, id"
        );
        let rows = on_pool!(self, p => sqlx::query_as::<_, SessionRow>(&sql).bind(principal.as_str()).fetch_all(p).await)
            .map_err(|e| backend("list sessions", e))?;
        rows.into_iter().map(Session::try_from).collect()
    }

    /// Revokes a session at `now` (a revoked session stays revoked; the first time
    /// counts) and returns it.
    ///
    /// # Errors
    /// `NotFound` if there is no such session.
    pub async fn revoke_session(&self, id: &SessionId, now: i64) -> Result<Session, StoreError> {
        let sql = format!(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING {SESSION_COLS}"
        );
        on_pool!(self, p => sqlx::query_as::<_, SessionRow>(&sql).bind(id.as_str()).bind(now).fetch_optional(p).await)
            .map_err(|e| backend("revoke session", e))?
            .ok_or(StoreError::NotFound { entity: "session" })?
            .try_into()
    }

    /// Revokes every unrevoked session of a principal at `now`; returns how many.
    ///
    /// # Errors
    /// `Backend` if the database fails.
    pub async fn revoke_principal_sessions(
        &self,
        principal: &PrincipalId,
        now: i64,
    ) -> Result<u64, StoreError> {
        let sql =
            "UPDATE sessions SET revoked_at = $2 WHERE principal_id = $1 AND revoked_at IS NULL";
        on_pool!(self, p => sqlx::query(sql).bind(principal.as_str()).bind(now).execute(p).await.map(|r| r.rows_affected()))
            .map_err(|e| backend("revoke principal sessions", e))
    }
}
