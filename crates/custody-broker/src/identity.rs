//! Who is calling: bootstrap (`custody init`), device enrolment with one-time codes,
//! sign-in by device-key challenge, and authentication of every request.
//!
//! Sign-in is the DPoP token request of RFC 9449 with a mandatory server nonce: the
//! proof, signed by the device's enrolled proof-of-possession key over `POST
//! {public}/v1/token` and the current nonce, *is* the device-key challenge response.
//! The token it yields is bound to that key (`cnf.jkt`) and to the network context the
//! server observed. There is no password and no bearer mode anywhere.

use std::net::IpAddr;

use base64ct::{Base64UrlUnpadded, Encoding};
use custody_audit::event::EventKind;
use custody_policy::{BundleContent, BundleVerifier, SignedBundle, TrustRoot};
use custody_seal::DevicePublic;
use custody_store::{Device, DeviceStatus, NewPrincipal, Principal, PrincipalClass, PrincipalId};
use custody_token::verify::{ProofExpectation, Request};
use custody_token::{IssueRequest, NetworkContext, Thumbprint, Timestamp, TokenClass, VerifyError};
use sha2::{Digest as _, Sha256};

use crate::audit::Act;
use crate::{Broker, BrokerError, POLICY_BUNDLE_SETTING, POLICY_TRUST_FILE};

/// How long an enrolment code stays usable.
pub const ENROLMENT_CODE_TTL_SECS: i64 = 3600;
/// The OAuth client id of custody's own CLI.
pub const CLI_CLIENT_ID: &str = "custody-cli";

/// The request facts authentication needs, taken from HTTP by the server.
#[derive(Clone, Copy)]
pub struct HttpFacts<'a> {
    /// Method.
    pub method: &'a str,
    /// Path and query as received (`/v1/cases?x=1`).
    pub path_and_query: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `DPoP` header, if any.
    pub dpop: Option<&'a str>,
    /// The peer address.
    pub peer: IpAddr,
}

impl std::fmt::Debug for HttpFacts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFacts")
            .field("method", &self.method)
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// An authenticated caller: the token, its proof, its device and its network all
/// checked, the principal loaded and active.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Principal,
    /// The enrolled device whose key made the proof.
    pub device: Device,
    /// The session id (`sid`).
    pub session: String,
    /// The access token's id (`jti`): what revoking "this token" names.
    pub token_id: String,
    /// The DPoP proof's id (`jti`) of this request, if known (the detection bus
    /// compares it across principals and keys).
    pub proof_id: Option<String>,
    /// The token class.
    pub class: TokenClass,
    /// The observed network context.
    pub network: NetworkContext,
    /// The peer address.
    pub peer: IpAddr,
}

/// The outcome of a sign-in. `Debug` never shows the token.
pub struct SignedIn {
    /// The DPoP-bound access token (a secret: the server returns it once).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Its class.
    pub class: TokenClass,
    /// The principal.
    pub principal: PrincipalId,
}

/// What `custody init` produced. `Debug` never shows the enrolment code.
pub struct Initialized {
    /// The first operator.
    pub operator: PrincipalId,
    /// Its one-time enrolment code (a secret: print once).
    pub enrolment_code: String,
    /// The activated policy bundle id.
    pub policy_bundle: String,
    /// Where the policy release keys were written (move them off this machine).
    pub release_keys_dir: std::path::PathBuf,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("class", &self.class)
            .field("principal", &self.principal)
            .finish()
    }
}

impl std::fmt::Debug for Initialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initialized")
            .field("operator", &self.operator)
            .field("enrolment_code", &"[redacted]")
            .field("policy_bundle", &self.policy_bundle)
            .field("release_keys_dir", &self.release_keys_dir)
            .finish()
    }
}

/// The token class a principal class signs in with. Operators are vendor staff and
/// use the support-agent token class (nonce mandatory, 15 min); what they may do is
/// decided by policy on their principal class.
pub fn token_class_for(class: PrincipalClass) -> TokenClass {
    match class {
        PrincipalClass::CustomerAdmin => TokenClass::CustomerAdmin,
        PrincipalClass::ServiceAccount => TokenClass::ServiceAccount,
        PrincipalClass::Operator | PrincipalClass::SupportAgent => TokenClass::SupportAgent,
    }
}

/// The network context of a peer: its /24 (IPv4) or /48 (IPv6) prefix.
pub fn network_of(peer: IpAddr) -> NetworkContext {
    let descriptor = match peer {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("ip4:{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!(
                "ip6:{:x}:{:x}:{:x}::/48",
                s.first().copied().unwrap_or(0),
                s.get(1).copied().unwrap_or(0),
                s.get(2).copied().unwrap_or(0)
            )
        }
    };
    NetworkContext::from_descriptor(&descriptor)
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn random_code(prefix: &str) -> Result<String, BrokerError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|_| BrokerError::Internal("entropy".into()))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

fn jkt_of(device: &Device) -> Option<Thumbprint> {
    Thumbprint::parse(&Base64UrlUnpadded::encode_string(&device.pop_jkt))
}

fn unauthenticated(err: &VerifyError) -> BrokerError {
    match err {
        VerifyError::ProofNonceMissing | VerifyError::ProofNonceInvalid => {
            BrokerError::UseNonce(err.to_string())
        }
        _ => BrokerError::Unauthenticated(err.to_string()),
    }
}

impl Broker {
    /// A current DPoP server nonce (sent in `DPoP-Nonce`).
    pub fn nonce(&self) -> Option<String> {
        self.nonces.issue(self.now())
    }

    /// `custody init`: activates the default policy bundle under a fresh 2-of-3
    /// release trust root (keys written to `release_dir`), creates the first operator
    /// and returns its one-time enrolment code. Refuses if already initialised.
    pub async fn initialize(
        &self,
        operator_name: &str,
        release_dir: &std::path::Path,
    ) -> Result<Initialized, BrokerError> {
        if !self
            .store
            .list_principals(Some(PrincipalClass::Operator))
            .await?
            .is_empty()
        {
            return Err(BrokerError::Conflict(
                "custody is already initialised".into(),
            ));
        }
        let bundle_id = self.activate_default_policy(release_dir).await?;
        let operator = self
            .store
            .create_principal(&NewPrincipal {
                class: PrincipalClass::Operator,
                tenant_id: None,
                display_name: operator_name.to_owned(),
                groups: vec!["operators".into()],
                service: None,
                created_at: self.now_secs(),
            })
            .await?;
        self.record(Act::system(
            EventKind::PrincipalCreate,
            "vendor",
            "principal",
            operator.id.as_str(),
        ))
        .await?;
        let code = self.new_enrolment_code(&operator.id).await?;
        Ok(Initialized {
            operator: operator.id,
            enrolment_code: code,
            policy_bundle: bundle_id,
            release_keys_dir: release_dir.to_owned(),
        })
    }

    async fn activate_default_policy(
        &self,
        release_dir: &std::path::Path,
    ) -> Result<String, BrokerError> {
        let internal = |e: String| BrokerError::Internal(format!("policy bootstrap: {e}"));
        crate::keys::private_dir(release_dir).map_err(|e| internal(e.to_string()))?;
        let mut release = Vec::new();
        for n in 1..=3 {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut_slice()).map_err(|_| internal("entropy".into()))?;
            let key = custody_policy::SigningKey::from_secret_bytes(&seed);
            let path = release_dir.join(format!("release-{n}.key"));
            crate::keys::write_private(&path, hex::encode(*key.secret_bytes()).as_bytes())
                .map_err(|e| internal(e.to_string()))?;
            release.push(key);
        }
        let root = TrustRoot::new(release.iter().map(|k| k.public_key()), 2)
            .map_err(|e| internal(e.to_string()))?;
        let now = self.now_u64();
        let mut bundle = SignedBundle::new(BundleContent::builtin_default(), 1, now + 365 * 86_400);
        for key in release.iter().take(2) {
            bundle.sign(key);
        }
        let verified = BundleVerifier::new(root.clone())
            .verify(&bundle, now)
            .map_err(|e| internal(e.to_string()))?;
        let id = verified.id().to_owned();
        // The bundle is appended to the audit log before any node loads it (§7).
        self.record(Act::system(
            EventKind::PolicyActivate,
            "vendor",
            "policy_bundle",
            &id,
        ))
        .await?;
        let trust_path = self.data_dir_keys().join(POLICY_TRUST_FILE);
        crate::keys::write_private(&trust_path, root.to_json().as_bytes())
            .map_err(|e| internal(e.to_string()))?;
        self.store
            .put_setting(
                POLICY_BUNDLE_SETTING,
                bundle.to_json().as_bytes(),
                self.now_secs(),
            )
            .await?;
        self.policy
            .activate(verified)
            .map_err(|e| internal(e.to_string()))?;
        Ok(id)
    }

    /// A new one-time enrolment code for `principal` (stored only as its SHA-256).
    pub(crate) async fn new_enrolment_code(
        &self,
        principal: &PrincipalId,
    ) -> Result<String, BrokerError> {
        let code = random_code("enr_")?;
        let now = self.now_secs();
        self.store
            .create_enrolment_code(
                &sha256(code.as_bytes()),
                principal,
                now,
                now + ENROLMENT_CODE_TTL_SECS,
            )
            .await?;
        Ok(code)
    }

    /// Enrols a device with a one-time code: `device_public` is the public document
    /// `custody device show` prints. The code is used up even if the device is refused
    /// later, so a leaked code can enrol at most one device.
    pub async fn enrol(&self, code: &str, device_public: &str) -> Result<Device, BrokerError> {
        let public = DevicePublic::from_json(device_public)
            .map_err(|e| BrokerError::BadRequest(format!("device document is invalid: {e}")))?;
        let used = self
            .store
            .consume_enrolment_code(&sha256(code.as_bytes()), self.now_secs())
            .await
            .map_err(|e| match BrokerError::from(e) {
                // Unknown, used and expired codes answer alike: nothing to probe.
                BrokerError::NotFound(_) | BrokerError::Conflict(_) | BrokerError::Gone(_) => {
                    BrokerError::Unauthenticated("unknown, used or expired enrolment code".into())
                }
                other => other,
            })?;
        let principal = self.store.principal(&used.principal_id).await?;
        if principal.suspended {
            return Err(BrokerError::Unauthenticated(
                "principal is suspended".into(),
            ));
        }
        let device = self
            .store
            .create_device(&custody_store::NewDevice {
                principal_id: principal.id.clone(),
                hpke_public_jwk: public.hpke.to_jwk(),
                pop_public_jwk: public.pop.to_jwk(),
                pop_jkt: *public.pop.thumbprint().as_bytes(),
                created_at: self.now_secs(),
            })
            .await?;
        // Audited before it is acknowledged; without its event the device is revoked.
        let act = Act::by_principal(
            &principal,
            &device,
            EventKind::DeviceEnrol,
            "device",
            device.id.as_str(),
        );
        if let Err(err) = self.record(act).await {
            let _ = self.store.revoke_device(&device.id, self.now_secs()).await;
            return Err(err);
        }
        Ok(device)
    }

    /// Sign-in: `proof` is a DPoP proof over `POST {public}/v1/token` carrying the
    /// current server nonce, made with an enrolled device's key.
    pub async fn sign_in(&self, proof: &str, peer: IpAddr) -> Result<SignedIn, BrokerError> {
        let now = self.now();
        let url = format!("{}/v1/token", self.public_url);
        let expectation = ProofExpectation {
            method: "POST",
            url: &url,
            access_token_hash: None,
            require_nonce: true,
            jkt: None,
        };
        let verified = self
            .verifier
            .proofs()
            .verify(proof, &expectation, now)
            .map_err(|e| unauthenticated(&e))?;
        let jkt_bytes: [u8; 32] = Base64UrlUnpadded::decode_vec(verified.jkt().as_str())
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| BrokerError::Unauthenticated("proof key is not enrolled".into()))?;
        let device = match self.store.device_by_jkt(&jkt_bytes).await {
            Ok(device) => device,
            Err(e) if e.is_not_found() => {
                return Err(BrokerError::Unauthenticated(
                    "proof key is not enrolled".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        if device.status != DeviceStatus::Active {
            return Err(BrokerError::Unauthenticated("device is revoked".into()));
        }
        let principal = self.store.principal(&device.principal_id).await?;
        if principal.suspended {
            return Err(BrokerError::Unauthenticated(
                "principal is suspended".into(),
            ));
        }
        let class = token_class_for(principal.class);
        let tenant = principal
            .tenant_id
            .as_ref()
            .map_or_else(|| "vendor".to_owned(), |t| t.as_str().to_owned());
        let issued = self
            .authority
            .issue(
                &IssueRequest {
                    class,
                    subject: principal.id.as_str().to_owned(),
                    tenant: tenant.clone(),
                    client_id: CLI_CLIENT_ID.to_owned(),
                    jkt: verified.jkt().clone(),
                    network: network_of(peer),
                    lifetime: None,
                    with_refresh: false,
                },
                now,
                &mut rand_core::OsRng,
            )
            .map_err(|e| BrokerError::Internal(format!("token issue: {e}")))?;
        let caller = Caller {
            principal: principal.clone(),
            device,
            session: issued.claims.sid.clone(),
            token_id: issued.claims.jti.clone(),
            proof_id: crate::watch::proof_id(proof),
            class,
            network: network_of(peer),
            peer,
        };
        self.record(Act::by(
            &caller,
            EventKind::TokenIssue,
            &tenant,
            "token",
            &issued.claims.jti,
        ))
        .await?;
        Ok(SignedIn {
            access_token: issued.access_token.expose_secret().to_owned(),
            expires_in: issued.claims.exp.saturating_sub(issued.claims.iat),
            class,
            principal: principal.id,
        })
    }

    /// Brings the verifier's revocation state up to the authority's head (one node:
    /// the feed is in-process, so freshness is confirmed on every request).
    pub(crate) fn sync_revocations(&self, now: Timestamp) -> Result<(), BrokerError> {
        let store = self.authority.revocations();
        let stale = |e: String| BrokerError::Unauthenticated(format!("revocation state: {e}"));
        let version = self.verifier.revocation_version().unwrap_or(0);
        for entry in store
            .entries_after(version)
            .map_err(|e| stale(e.to_string()))?
        {
            self.verifier
                .apply_revocation(&entry)
                .map_err(|e| stale(e.to_string()))?;
        }
        let head = store.head().map_err(|e| stale(e.to_string()))?;
        self.verifier
            .confirm_revocations(head, now)
            .map_err(|e| stale(e.to_string()))
    }

    /// Authenticates one request: `Authorization: DPoP <token>` plus a `DPoP` proof,
    /// checked for signature, class, lifetime, revocation, network and proof; then the
    /// principal must be active, of the token's class, and the proof key an active
    /// device of that principal.
    pub async fn authenticate(&self, facts: &HttpFacts<'_>) -> Result<Caller, BrokerError> {
        let now = self.now();
        let authorization = facts.authorization.ok_or_else(|| {
            BrokerError::Unauthenticated("missing Authorization: DPoP header".into())
        })?;
        if self.dangerous.bearer_tokens {
            return self
                .dangerous_authenticate_bearer(facts, authorization, now)
                .await;
        }
        let token = match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("DPoP") => token.trim(),
            _ => {
                return Err(BrokerError::Unauthenticated(
                    "only the DPoP scheme is accepted; bearer tokens are refused".into(),
                ));
            }
        };
        let proof = facts
            .dpop
            .ok_or_else(|| BrokerError::Unauthenticated("missing DPoP proof header".into()))?;
        let class = claimed_class(token)?;
        self.sync_revocations(now)?;
        let url = format!("{}{}", self.public_url, facts.path_and_query);
        let network = network_of(facts.peer);
        let verified = self
            .verifier
            .verify(
                &Request {
                    required_class: class,
                    method: facts.method,
                    url: &url,
                    access_token: token,
                    proof,
                    network: &network,
                },
                now,
            )
            .map_err(|e| {
                self.publish_refused(token, proof, &e, facts.peer);
                unauthenticated(&e)
            })?;
        let claims = verified.claims();
        let principal_id = PrincipalId::parse(&claims.sub)
            .map_err(|_| BrokerError::Unauthenticated("token subject is unknown".into()))?;
        let principal = self.store.principal(&principal_id).await.map_err(|e| {
            if e.is_not_found() {
                BrokerError::Unauthenticated("token subject is unknown".into())
            } else {
                e.into()
            }
        })?;
        if principal.suspended || token_class_for(principal.class) != claims.cls {
            return Err(BrokerError::Unauthenticated(
                "principal is suspended or not of the token's class".into(),
            ));
        }
        let devices = self.store.list_devices(&principal.id).await?;
        let device = devices
            .into_iter()
            .find(|d| {
                d.status == DeviceStatus::Active && jkt_of(d).as_ref() == Some(&claims.cnf.jkt)
            })
            .ok_or_else(|| {
                BrokerError::Unauthenticated(
                    "the proof key is not an active device of this principal".into(),
                )
            })?;
        let caller = Caller {
            principal,
            device,
            session: claims.sid.clone(),
            token_id: claims.jti.clone(),
            proof_id: crate::watch::proof_id(proof),
            class: claims.cls,
            network,
            peer: facts.peer,
        };
        self.publish_authenticated(&caller);
        Ok(caller)
    }
}

/// The class an access token claims (`cls`), read before verification only to pick
/// the verifier's expectation; the verifier then checks it.
fn claimed_class(token: &str) -> Result<TokenClass, BrokerError> {
    custody_token::inspect(token)
        .ok()
        .and_then(|i| {
            i.claims
                .get("cls")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        })
        .and_then(|c| c.parse::<TokenClass>().ok())
        .ok_or_else(|| BrokerError::Unauthenticated("access token is malformed".into()))
}

impl Broker {
    /// The unsafe baseline's authentication ([`crate::Dangerous::bearer_tokens`]): the
    /// token alone, under either scheme, from any key and network.
    async fn dangerous_authenticate_bearer(
        &self,
        facts: &HttpFacts<'_>,
        authorization: &str,
        now: Timestamp,
    ) -> Result<Caller, BrokerError> {
        let token = authorization
            .split_once(' ')
            .map_or(authorization, |(_, token)| token)
            .trim();
        let class = claimed_class(token)?;
        self.sync_revocations(now)?;
        let verified = self
            .verifier
            .dangerous_verify_bearer(token, class, now)
            .map_err(|e| unauthenticated(&e))?;
        let claims = verified.claims();
        let principal_id = PrincipalId::parse(&claims.sub)
            .map_err(|_| BrokerError::Unauthenticated("token subject is unknown".into()))?;
        let principal = self.store.principal(&principal_id).await?;
        if principal.suspended {
            return Err(BrokerError::Unauthenticated(
                "principal is suspended or not of the token's class".into(),
            ));
        }
        let device = self
            .store
            .list_devices(&principal.id)
            .await?
            .into_iter()
            .find(|d| d.status == DeviceStatus::Active)
            .ok_or_else(|| BrokerError::Unauthenticated("no active device".into()))?;
        let caller = Caller {
            principal,
            device,
            session: claims.sid.clone(),
            token_id: claims.jti.clone(),
            proof_id: facts.dpop.and_then(crate::watch::proof_id),
            class: claims.cls,
            network: network_of(facts.peer),
            peer: facts.peer,
        };
        self.publish_authenticated(&caller);
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_tokens_or_codes() {
        let signed_in = SignedIn {
            access_token: "eyJhbGciOiJFZERTQSJ9.secret-token".into(),
            expires_in: 600,
            class: TokenClass::CustomerAdmin,
            principal: PrincipalId::parse("prn_00000000000000000000000000000001").unwrap(),
        };
        assert!(!format!("{signed_in:?}").contains("secret-token"));
        let init = Initialized {
            operator: PrincipalId::parse("prn_00000000000000000000000000000001").unwrap(),
            enrolment_code: "enr_secretcode".into(),
            policy_bundle: "b".into(),
            release_keys_dir: "/x".into(),
        };
        assert!(!format!("{init:?}").contains("secretcode"));
    }
}
