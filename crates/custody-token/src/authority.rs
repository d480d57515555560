//! The Token Authority: [`Authority`] issues bound access tokens and refresh tokens,
//! rotates refresh tokens (reuse revokes the family), and records revocations with
//! signed receipts.

use std::sync::Arc;
use std::time::Duration;

use rand_core::CryptoRngCore;

use crate::class::TokenClass;
use crate::jose::{ALG_EDDSA, Thumbprint, b64_encode, sign_compact};
use crate::keys::{KeyRing, KeySet};
use crate::network::NetworkContext;
use crate::refresh::{
    FamilyRecord, RefreshFormatError, RefreshStore, RefreshToken, RotateOutcome, TokenStanding,
};
use crate::revocation::{
    ReceiptError, RevocationEntry, RevocationReceipt, RevocationState, RevocationStore, StoreError,
    SubjectKind, TokenSubjects,
};
use crate::time::Timestamp;
use crate::token::{ACCESS_TOKEN_TYP, AccessClaims, AccessToken, Confirmation};
use crate::verify::VerifiedProof;

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Token class.
    pub class: TokenClass,
    /// Principal (`sub`).
    pub subject: String,
    /// Tenant scope.
    pub tenant: String,
    /// OAuth client id.
    pub client_id: String,
    /// Thumbprint of the client's proof-of-possession key (`cnf.jkt`).
    pub jkt: Thumbprint,
    /// The client's network context (`net`).
    pub network: NetworkContext,
    /// Requested lifetime; `None` means the class maximum. Longer than the class
    /// maximum is refused.
    pub lifetime: Option<Duration>,
    /// Whether to start a refresh-token family (the session).
    pub with_refresh: bool,
}

/// What the authority hands out.
#[derive(Debug)]
pub struct Issued {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, when one was requested or rotated.
    pub refresh_token: Option<RefreshToken>,
    /// The signed claims.
    pub claims: AccessClaims,
}

/// Errors issuing a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The requested lifetime exceeds the class maximum, or is zero.
    #[error("requested lifetime must be between 1 s and the {class} maximum of {max_secs} s")]
    Lifetime {
        /// The class.
        class: TokenClass,
        /// Its maximum, seconds.
        max_secs: u64,
    },
    /// Subject, tenant or client id is empty.
    #[error("subject, tenant and client id must not be empty")]
    MissingField,
    /// Encoding or signing failed.
    #[error("the token could not be encoded")]
    Encoding,
    /// The refresh store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refusals at the refresh endpoint. Decision errors: not `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Not a custody refresh token.
    #[error("refresh refused: {0}")]
    Format(#[from] RefreshFormatError),
    /// No family holds this token.
    #[error("refresh refused: unknown refresh token")]
    Unknown,
    /// The family was revoked earlier.
    #[error("refresh refused: the token family is revoked")]
    FamilyRevoked,
    /// The family's absolute lifetime is over.
    #[error("refresh refused: the token family has expired")]
    FamilyExpired,
    /// A rotated token was presented again: the family and its session are now revoked.
    #[error("refresh refused: refresh token reused; its whole family and session are revoked")]
    Reused {
        /// Receipt of the session revocation.
        receipt: Box<RevocationReceipt>,
    },
    /// A revocation epoch covers the family (principal, device, tenant, class or session).
    #[error("refresh refused: the token family is revoked by {kind}")]
    Revoked {
        /// The kind of revocation that covers it.
        kind: SubjectKind,
    },
    /// The proof was made with another key than the family's.
    #[error("refresh refused: the proof key does not match the token family's key")]
    KeyMismatch,
    /// The network context changed: for admin and agent classes the session ends.
    #[error("refresh refused: network context changed")]
    NetworkChanged {
        /// Receipt of the session revocation, when the class ends its session.
        receipt: Option<Box<RevocationReceipt>>,
    },
    /// Issuing the new pair failed.
    #[error("refresh failed: {0}")]
    Issue(#[from] IssueError),
    /// Recording the revocation failed (the refresh is refused all the same).
    #[error("refresh failed: {0}")]
    Revoke(#[from] RevokeError),
}

/// Errors recording a revocation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevokeError {
    /// The subject value is empty.
    #[error("revocation subject must not be empty")]
    EmptySubject,
    /// The revocation log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The receipt could not be signed.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
}

/// The Token Authority.
pub struct Authority {
    issuer: String,
    keys: KeyRing,
    revocations: Arc<dyn RevocationStore>,
    refresh: Arc<dyn RefreshStore>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("issuer", &self.issuer)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn random_id(rng: &mut impl CryptoRngCore) -> String {
    let mut bytes = [0_u8; 16];
    rng.fill_bytes(&mut bytes);
    b64_encode(&bytes)
}

impl Authority {
    /// An authority named `issuer` (the `iss` claim) with its keys and stores.
    pub fn new(
        issuer: impl Into<String>,
        keys: KeyRing,
        revocations: Arc<dyn RevocationStore>,
        refresh: Arc<dyn RefreshStore>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            keys,
            revocations,
            refresh,
        }
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The published keys (serve as JWKS).
    pub fn key_set(&self) -> KeySet {
        self.keys.key_set()
    }

    /// The key ring, for rotation.
    pub fn keys_mut(&mut self) -> &mut KeyRing {
        &mut self.keys
    }

    /// The revocation log (nodes read it in order).
    pub fn revocations(&self) -> &dyn RevocationStore {
        self.revocations.as_ref()
    }

    /// Issues an access token (and, if asked, a new refresh-token family).
    pub fn issue(
        &self,
        request: &IssueRequest,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Issued, IssueError> {
        if request.subject.is_empty() || request.tenant.is_empty() || request.client_id.is_empty() {
            return Err(IssueError::MissingField);
        }
        let session = random_id(rng);
        let refresh_token = if request.with_refresh {
            let token = RefreshToken::generate(rng);
            let record = FamilyRecord {
                family_id: session.clone(),
                class: request.class,
                subject: request.subject.clone(),
                tenant: request.tenant.clone(),
                client_id: request.client_id.clone(),
                jkt: request.jkt.clone(),
                network: request.network.clone(),
                created_at: now.unix_secs(),
                expires_at: now.saturating_add(request.class.refresh_lifetime()),
            };
            self.refresh.create_family(record, token.hash())?;
            Some(token)
        } else {
            None
        };
        let (access_token, claims) = self.sign_access(request, session, now, rng)?;
        Ok(Issued {
            access_token,
            refresh_token,
            claims,
        })
    }

    fn sign_access(
        &self,
        request: &IssueRequest,
        session: String,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(AccessToken, AccessClaims), IssueError> {
        let max = request.class.max_lifetime();
        let lifetime = request.lifetime.unwrap_or(max);
        if lifetime > max || lifetime.as_secs() == 0 {
            return Err(IssueError::Lifetime {
                class: request.class,
                max_secs: max.as_secs(),
            });
        }
        let iat = now.unix_secs();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: request.subject.clone(),
            aud: request.class.audience().to_owned(),
            exp: iat.saturating_add(lifetime.as_secs()),
            iat,
            jti: random_id(rng),
            client_id: request.client_id.clone(),
            cnf: Confirmation {
                jkt: request.jkt.clone(),
            },
            cls: request.class,
            tenant: request.tenant.clone(),
            sid: session,
            net: request.network.clone(),
        };
        let key = self.keys.active();
        let header = serde_json::json!({
            "typ": ACCESS_TOKEN_TYP,
            "alg": ALG_EDDSA,
            "kid": key.thumbprint().as_str(),
        });
        let text = sign_compact(&header, &claims, key).map_err(|_| IssueError::Encoding)?;
        Ok((AccessToken::new(text), claims))
    }

    /// Exchanges a refresh token for a new access token and a new refresh token, bound
    /// to the same key and network. `proof` must come from
    /// [`crate::ProofVerifier::verify`] at the token endpoint. A rotated token presented
    /// again revokes its family and session.
    pub fn refresh(
        &self,
        presented: &str,
        proof: &VerifiedProof,
        network: &NetworkContext,
        now: Timestamp,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Issued, RefreshError> {
        let token = RefreshToken::parse(presented)?;
        let hash = token.hash();
        let view = self.refresh.lookup(&hash).map_err(IssueError::from)?;
        let view = view.ok_or(RefreshError::Unknown)?;
        let record = view.record;
        if view.revoked {
            return Err(RefreshError::FamilyRevoked);
        }
        if view.standing == TokenStanding::Rotated {
            return Err(self.kill_family(&record.family_id, now)?);
        }
        if now >= record.expires_at {
            return Err(RefreshError::FamilyExpired);
        }
        if let Some(kind) = self.family_revoked_by(&record)? {
            self.refresh
                .revoke_family(&record.family_id)
                .map_err(IssueError::from)?;
            return Err(RefreshError::Revoked { kind });
        }
        if proof.jkt() != &record.jkt {
            return Err(RefreshError::KeyMismatch);
        }
        if network != &record.network {
            let receipt = if record.class.network_change_ends_session() {
                self.refresh
                    .revoke_family(&record.family_id)
                    .map_err(IssueError::from)?;
                let (_, receipt) = self.revoke(SubjectKind::Session, &record.family_id, now)?;
                Some(Box::new(receipt))
            } else {
                None
            };
            return Err(RefreshError::NetworkChanged { receipt });
        }
        let next = RefreshToken::generate(rng);
        match self
            .refresh
            .rotate(&record.family_id, &hash, next.hash())
            .map_err(IssueError::from)?
        {
            RotateOutcome::Rotated => {}
            RotateOutcome::Reused => return Err(self.kill_family(&record.family_id, now)?),
        }
        let request = IssueRequest {
            class: record.class,
            subject: record.subject,
            tenant: record.tenant,
            client_id: record.client_id,
            jkt: record.jkt,
            network: record.network,
            lifetime: None,
            with_refresh: false,
        };
        let (access_token, claims) = self.sign_access(&request, record.family_id, now, rng)?;
        Ok(Issued {
            access_token,
            refresh_token: Some(next),
            claims,
        })
    }

    /// Replays the revocation log over the family's subjects (a principal, device,
    /// tenant or class revocation also ends refresh families created before it).
    /// Linear in the log length; a shared store should index this.
    fn family_revoked_by(
        &self,
        record: &FamilyRecord,
    ) -> Result<Option<SubjectKind>, RefreshError> {
        let mut state = RevocationState::new();
        for entry in self
            .revocations
            .entries_after(0)
            .map_err(RevokeError::from)?
        {
            if state.apply(&entry).is_err() {
                return Err(RefreshError::Revoke(RevokeError::Store(
                    StoreError::Unavailable,
                )));
            }
        }
        let class = record.class.as_str();
        let subjects = TokenSubjects {
            token_id: "",
            session: &record.family_id,
            principal: &record.subject,
            device: record.jkt.as_str(),
            tenant: &record.tenant,
            class,
        };
        Ok(state.revoked_by(&subjects, record.created_at))
    }

    fn kill_family(&self, family_id: &str, now: Timestamp) -> Result<RefreshError, RefreshError> {
        self.refresh
            .revoke_family(family_id)
            .map_err(IssueError::from)?;
        let (_, receipt) = self.revoke(SubjectKind::Session, family_id, now)?;
        Ok(RefreshError::Reused {
            receipt: Box::new(receipt),
        })
    }

    /// Revokes every token of `subject` issued at or before now (an epoch entry), and
    /// returns the entry with a receipt signed by the active key.
    pub fn revoke(
        &self,
        kind: SubjectKind,
        subject: &str,
        now: Timestamp,
    ) -> Result<(RevocationEntry, RevocationReceipt), RevokeError> {
        if subject.is_empty() {
            return Err(RevokeError::EmptySubject);
        }
        if kind == SubjectKind::Session {
            self.refresh.revoke_family(subject)?;
        }
        let entry = self
            .revocations
            .append(kind, subject, now.unix_secs(), now)?;
        let receipt = RevocationReceipt::sign(&self.issuer, &entry, self.keys.active())?;
        Ok((entry, receipt))
    }
}
