//! custody's HTTP client: enrols a device with a one-time code, signs in with the
//! device key (a DPoP proof carrying the server nonce), and makes API calls that each
//! carry the DPoP-bound access token and a fresh proof (RFC 9449), retrying once when
//! the server asks for a new nonce.
//!
//! - [`Client`]: one server, one device key, optionally one session.
//! - [`Reply`]: status, headers and body of an answer, problems included, so callers
//!   (the CLI, the tests) see exactly what the server said.

use std::path::Path;
use std::sync::{Arc, Mutex};

use custody_token::dpop::ProofRequest;
use custody_token::{Clock, Ed25519KeyPair, SystemClock, Timestamp, create_proof};
use rand_core::OsRng;
use zeroize::Zeroizing;

/// Errors of the client itself (transport, keys); HTTP errors are [`Reply`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The device identity could not be loaded.
    #[error("device identity: {0}")]
    Device(String),
    /// A proof could not be made.
    #[error("cannot make a DPoP proof: {0}")]
    Proof(String),
    /// The server could not be reached or the exchange failed.
    #[error("request to {url} failed: {message}")]
    Transport {
        /// The URL (no query).
        url: String,
        /// What failed.
        message: String,
    },
    /// The server refused to release an export's key.
    #[error("release refused ({status}): {problem}")]
    Release {
        /// HTTP status.
        status: u16,
        /// The problem type.
        problem: String,
    },
    /// Sign-in was refused.
    #[error("sign-in refused ({status}): {detail}")]
    SignIn {
        /// HTTP status.
        status: u16,
        /// The problem's detail.
        detail: String,
    },
}

/// One HTTP answer.
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// `Debug` shows the status and the body's length, never the body: a sign-in answer
/// holds an access token and an export release a key.
impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Reply {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The problem `type` URI, if the body is a problem document.
    pub fn problem_type(&self) -> Option<String> {
        self.json()
            .get("type")
            .and_then(|t| t.as_str())
            .map(str::to_owned)
    }
}

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON value.
    Json(serde_json::Value),
    /// Raw bytes with a content type.
    Bytes(Vec<u8>, &'static str),
}

/// A client of one custody server, holding one device's proof key.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
    key: Ed25519KeyPair,
    nonce: Mutex<Option<String>>,
    token: Option<Zeroizing<String>>,
    clock: Arc<dyn Clock>,
    recorded: Option<Mutex<Vec<Exchange>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("signed_in", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// One request and its answer as they crossed the wire (see [`Client::record`]).
/// It holds the secrets that crossed (tokens, proofs): `Debug` shows none of them.
#[derive(Clone)]
pub struct Exchange {
    /// When the request was sent (the client's clock).
    pub started: Timestamp,
    /// The method.
    pub method: String,
    /// The full URL.
    pub url: String,
    /// The request headers the client set (name, value), secrets included.
    pub request_headers: Vec<(String, String)>,
    /// The request body, if any, with its content type.
    pub request_body: Option<(String, Vec<u8>)>,
    /// Status code.
    pub status: u16,
    /// The response headers (name, value).
    pub response_headers: Vec<(String, String)>,
    /// The response body.
    pub response_body: Vec<u8>,
    /// Milliseconds from sending to the whole answer.
    pub elapsed_ms: u64,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("method", &self.method)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `base` (e.g. `http://127.0.0.1:8443`) proving possession of `key`.
    pub fn new(base: &str, key: Ed25519KeyPair) -> Result<Self, ClientError> {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(600))
            .build()
            .map_err(|e| ClientError::Transport {
                url: base.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            key,
            nonce: Mutex::new(None),
            token: None,
            clock: Arc::new(SystemClock),
            recorded: None,
        })
    }

    /// Dates proofs and approvals with `clock` instead of the system clock (a
    /// simulation that moves a server's clock forward moves its clients' too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Starts keeping every exchange (request headers with their tokens and proofs,
    /// answers with their bodies) in memory, as a browser's capture would; see
    /// [`Client::take_recorded`].
    pub fn record(&mut self) {
        self.recorded = Some(Mutex::new(Vec::new()));
    }

    /// The exchanges recorded since [`Client::record`] or the last call, oldest first.
    pub fn take_recorded(&self) -> Vec<Exchange> {
        self.recorded
            .as_ref()
            .and_then(|r| r.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default()
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A client using the proof key of the device identity in `dir`
    /// (`custody device init`).
    pub fn for_device(base: &str, dir: &Path) -> Result<Self, ClientError> {
        let identity = custody_seal::DeviceIdentity::load(dir)
            .map_err(|e| ClientError::Device(e.to_string()))?;
        let jwk = identity.pop_key().to_jwk();
        let key =
            Ed25519KeyPair::from_jwk_json(&jwk).map_err(|e| ClientError::Device(e.to_string()))?;
        Self::new(base, key)
    }

    /// Sends every request from `address` (the client socket's source address,
    /// e.g. one of several loopback addresses, or one egress interface of a
    /// multi-homed host). Keeps the token and the nonce.
    pub fn with_local_address(mut self, address: std::net::IpAddr) -> Result<Self, ClientError> {
        self.http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(600))
            .local_address(address)
            .build()
            .map_err(|e| ClientError::Transport {
                url: self.base.clone(),
                message: e.to_string(),
            })?;
        Ok(self)
    }

    /// Uses an access token obtained earlier.
    pub fn set_token(&mut self, token: String) {
        self.token = Some(Zeroizing::new(token));
    }

    /// The access token, if signed in (a secret).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref().map(String::as_str)
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Enrols this device with a one-time `code`; `device_public` is the device's
    /// public document (`custody device show`).
    pub fn enrol(&self, code: &str, device_public: &str) -> Result<Reply, ClientError> {
        let device: serde_json::Value = serde_json::from_str(device_public)
            .map_err(|e| ClientError::Device(format!("public document: {e}")))?;
        let body = serde_json::json!({ "code": code, "device": device });
        self.send("POST", "/v1/enrol", &Body::Json(body), false)
    }

    /// Signs in: a DPoP proof over `POST /v1/token` with the server nonce. Keeps the
    /// access token for later calls and returns the server's answer.
    pub fn login(&mut self) -> Result<serde_json::Value, ClientError> {
        let reply = self.send("POST", "/v1/token", &Body::Empty, false)?;
        let json = reply.json();
        if reply.status != 200 {
            return Err(ClientError::SignIn {
                status: reply.status,
                detail: json
                    .get("detail")
                    .and_then(|d| d.as_str())
                    .unwrap_or("no detail")
                    .to_owned(),
            });
        }
        let token = json
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| ClientError::SignIn {
                status: reply.status,
                detail: "no access_token in the answer".into(),
            })?;
        self.token = Some(Zeroizing::new(token.to_owned()));
        Ok(json)
    }

    /// Approves approval request `id`: fetches the request, recomputes its digest
    /// locally (the server's digest is not trusted), signs the approval statement with
    /// this device's key as `approver`, and posts it.
    pub fn approve(
        &self,
        id: &str,
        approver: &str,
        pop_secret: &[u8; 32],
    ) -> Result<Reply, ClientError> {
        let reply = self.call("GET", &format!("/v1/approvals/{id}"), &Body::Empty)?;
        if reply.status != 200 {
            return Ok(reply);
        }
        let json = reply.json();
        let request: custody_policy::ApprovalRequest =
            serde_json::from_value(json.get("request").cloned().unwrap_or_default())
                .map_err(|e| ClientError::Proof(format!("approval request: {e}")))?;
        let now = self.now().unix_secs();
        let key = custody_policy::SigningKey::from_secret_bytes(pop_secret);
        let approval = custody_policy::Approval::sign(&key, approver, &request, now);
        let signature: String = approval
            .signature
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let body = serde_json::json!({ "signature": signature, "signed_at": now });
        self.call(
            "POST",
            &format!("/v1/approvals/{id}/approvals"),
            &Body::Json(body),
        )
    }

    /// Opens an export file on this device: asks the server for the release key (once;
    /// bound to this device's key and network, inside the window), removes the release
    /// layer, then checks and opens the sealed envelope with the device's HPKE key and
    /// the broker's signing key. Returns the artifact bytes.
    pub fn open_export(&self, file: &[u8], device_dir: &Path) -> Result<Vec<u8>, ClientError> {
        let bad = |what: &str| ClientError::Device(format!("export file: {what}"));
        let (id, body) = custody_broker::exports::parse_export_file(file)
            .ok_or_else(|| bad("not a custody export"))?;
        let reply = self.call(
            "POST",
            &format!("/v1/artifact-exports/{}/release", id.as_str()),
            &Body::Empty,
        )?;
        if reply.status != 200 {
            return Err(ClientError::Release {
                status: reply.status,
                problem: reply.problem_type().unwrap_or_default(),
            });
        }
        let json = reply.json();
        let field = |name: &str| {
            json.get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let mut key = Zeroizing::new([0u8; 32]);
        let key_hex = Zeroizing::new(field("release_key"));
        for (slot, pair) in key.iter_mut().zip(key_hex.as_bytes().chunks(2)) {
            *slot = std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| bad("release key"))?;
        }
        let envelope = custody_broker::exports::unwrap_export(&id, body, &key)
            .map_err(|e| bad(&e.to_string()))?;
        let broker = custody_seal::VerifyingKey::from_jwk(
            &json
                .get("broker_key")
                .map(|v| v.to_string())
                .unwrap_or_default(),
        )
        .map_err(|e| bad(&e.to_string()))?;
        let network =
            custody_seal::NetworkContext::from_descriptor_or_hash(&field("network_context"))
                .ok_or_else(|| bad("network context"))?;
        let identity = custody_seal::DeviceIdentity::load(device_dir)
            .map_err(|e| ClientError::Device(e.to_string()))?;
        let mut out = Vec::new();
        custody_seal::envelope::open_with(
            &custody_seal::envelope::OpenOptions::exports(),
            identity.hpke_key(),
            &[broker],
            &network,
            self.now().unix_secs(),
            envelope.as_slice(),
            &mut out,
        )
        .map_err(|e| bad(&e.to_string()))?;
        Ok(out)
    }

    /// An authenticated call (token + fresh proof).
    pub fn call(&self, method: &str, path: &str, body: &Body) -> Result<Reply, ClientError> {
        self.send(method, path, body, true)
    }

    fn proof(&self, method: &str, url: &str, with_token: bool) -> Result<String, ClientError> {
        let nonce = self.nonce.lock().ok().and_then(|n| n.clone());
        let token = if with_token { self.token() } else { None };
        create_proof(
            &self.key,
            &ProofRequest {
                method,
                url,
                access_token: token,
                nonce: nonce.as_deref(),
            },
            self.now(),
            &mut OsRng,
        )
        .map_err(|e| ClientError::Proof(e.to_string()))
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: &Body,
        auth: bool,
    ) -> Result<Reply, ClientError> {
        let mut reply = self.send_once(method, path, body, auth)?;
        if reply.status == 401
            && reply.problem_type().as_deref() == Some("urn:custody:problem:use-dpop-nonce")
        {
            reply = self.send_once(method, path, body, auth)?;
        }
        Ok(reply)
    }

    fn send_once(
        &self,
        method: &str,
        path: &str,
        body: &Body,
        auth: bool,
    ) -> Result<Reply, ClientError> {
        let url = format!("{}{}", self.base, path);
        let transport = |e: reqwest::Error| ClientError::Transport {
            url: format!(
                "{}{}",
                self.base,
                path.split('?').next().unwrap_or_default()
            ),
            message: e.to_string(),
        };
        let verb = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| ClientError::Proof(e.to_string()))?;
        let mut request = self.http.request(verb, &url);
        let mut headers = vec![("DPoP".to_owned(), self.proof(method, &url, auth)?)];
        if let (true, Some(token)) = (auth, self.token()) {
            headers.push(("Authorization".to_owned(), format!("DPoP {token}")));
        }
        for (name, value) in &headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let mut sent_body = None;
        request = match body {
            Body::Empty => request,
            Body::Json(value) => {
                let bytes = serde_json::to_vec(value)
                    .map_err(|e| ClientError::Proof(format!("request body: {e}")))?;
                sent_body = Some(("application/json".to_owned(), bytes.clone()));
                request
                    .header("Content-Type", "application/json")
                    .body(bytes)
            }
            Body::Bytes(bytes, content_type) => {
                sent_body = Some(((*content_type).to_owned(), bytes.clone()));
                request
                    .header("Content-Type", *content_type)
                    .body(bytes.clone())
            }
        };
        let started = self.now();
        let timer = std::time::Instant::now();
        let response = request.send().map_err(transport)?;
        let response_headers: Vec<(String, String)> = if self.recorded.is_some() {
            response
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        if let (Some(nonce), Ok(mut slot)) = (
            response
                .headers()
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok()),
            self.nonce.lock(),
        ) {
            *slot = Some(nonce.to_owned());
        }
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().map_err(transport)?.to_vec();
        if let Some(Ok(mut recorded)) = self.recorded.as_ref().map(Mutex::lock) {
            recorded.push(Exchange {
                started,
                method: method.to_owned(),
                url,
                request_headers: headers,
                request_body: sent_body,
                status,
                response_headers,
                response_body: body.clone(),
                elapsed_ms: u64::try_from(timer.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }
}
