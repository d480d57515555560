"""schemathesis hooks for custody's conformance run (loaded with SCHEMATHESIS_HOOKS).

- Authentication: every request to a DPoP-secured operation gets a fresh proof
  (RFC 9449: `htm`, `htu`, `iat`, a unique `jti`, `ath` over the access token, and
  the latest server nonce), signed with the Ed25519 key that `custody device init`
  stored for the principal owning the route, plus `Authorization: DPoP <token>` from
  the session `custody login` stored. The proof is made on the prepared request, so
  `htu` is exactly the URL sent. A `401 use-dpop-nonce` answer is retried once with a
  new proof carrying the nonce the server sent (as RFC 9449 §8 asks of a client).
  In positive mode `POST /v1/token` is signed too (sign-in, no `ath`); in negative
  mode its generated `DPoP` header is sent as generated.
- Real ids: in positive mode, about half of the generated cases get the bootstrap's
  real ids (path `id`, and `agent_id`, `tenant_id`, `approval_request_id`, and an
  unused enrolment code in bodies; a plain support agent for `POST /v1/principals`),
  so the success paths are reached as well as the malformed and unknown-id paths.
- Record: every call is appended to `signed.jsonl` beside the state file (method,
  path template, principal, status; never a token, proof or body) for summary.py.

No value from here is printed: tokens and keys stay in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path

import jwt
import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemathesis.generation import GenerationMode

STATE_PATH = Path(os.environ["CUSTODY_ST_STATE"])
STATE = json.loads(STATE_PATH.read_text(encoding="utf-8"))
RECORD_PATH = STATE_PATH.parent / "signed.jsonl"
NONCE_PROBLEM = "urn:custody:problem:use-dpop-nonce"

# Which principal signs each operation: the one the policy lets do it, so the success
# paths are reached (the authorization matrix test covers the denials). Routes not
# listed (added later) are signed by the operator. CUSTODY_ST_AS=<name> signs every
# operation as that principal instead.
ROUTE_PRINCIPAL = {
    ("GET", "/v1/me"): "operator",
    ("POST", "/v1/tenants"): "operator",
    ("POST", "/v1/principals"): "operator",
    ("PUT", "/v1/tenants/{id}/support-mode"): "admin",
    ("POST", "/v1/tenants/{id}/cases"): "admin",
    ("GET", "/v1/cases"): "admin",
    ("GET", "/v1/cases/{id}"): "admin",
    ("POST", "/v1/cases/{id}/assignments"): "operator",
    ("POST", "/v1/cases/{id}/artifacts"): "admin",
    ("GET", "/v1/cases/{id}/artifacts"): "admin",
    ("GET", "/v1/artifacts/{id}/view"): "agent",
    ("GET", "/v1/artifacts/{id}/download"): "admin",
    ("POST", "/v1/cases/{id}/grants"): "agent",
    ("GET", "/v1/grants"): "agent",
    ("GET", "/v1/approvals/{id}"): "lead",
    ("POST", "/v1/approvals/{id}/approvals"): "lead",
    ("POST", "/v1/artifacts/{id}/export-requests"): "agent",
    ("POST", "/v1/artifact-exports"): "agent",
    ("POST", "/v1/artifact-exports/{id}/release"): "agent",
}
UNSECURED = {
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/openapi.json",
    "/metrics",
    "/v1/enrol",
    "/v1/token",
}

# The real id a path `{id}` takes, by the path's first segments.
PATH_ID = [
    ("/v1/tenants/{id}", "tenant"),
    ("/v1/cases/{id}", "case"),
    ("/v1/artifacts/{id}", "artifact"),
    ("/v1/approvals/{id}", "grant_approval"),
    ("/v1/artifact-exports/{id}", "export"),
]
# Body fields that name a real record.
BODY_ID = {
    "agent_id": "agent",
    "tenant_id": "tenant",
    "approval_request_id": "export_approval",
    "code": "enrolment_code",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Principal:
    """One enrolled device: its proof key (from pop.jwk) and its session token."""

    def __init__(self, name: str, device_dir: str) -> None:
        self.name = name
        jwk = json.loads((Path(device_dir) / "pop.jwk").read_text(encoding="utf-8"))
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise ValueError(f"{name}: pop.jwk is not an Ed25519 key")
        self.key = Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"]))
        self.public_jwk = {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}
        session = json.loads((Path(device_dir) / "session.json").read_text(encoding="utf-8"))
        self.token = session["access_token"]

    def proof(self, method: str, url: str, nonce: str | None, with_token: bool) -> str:
        claims = {
            "jti": b64url(secrets.token_bytes(16)),
            "htm": method,
            "htu": url.split("?", 1)[0].split("#", 1)[0],
            "iat": int(time.time()),
        }
        if with_token:
            claims["ath"] = b64url(hashlib.sha256(self.token.encode("ascii")).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        return jwt.encode(
            claims,
            self.key,
            algorithm="EdDSA",
            headers={"typ": "dpop+jwt", "jwk": self.public_jwk},
        )


PRINCIPALS = {name: Principal(name, d) for name, d in STATE["principals"].items()}


class Nonce:
    """The latest `DPoP-Nonce` the server sent (shared by all principals)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: str | None = None

    def get(self) -> str | None:
        with self._lock:
            return self._value

    def update(self, response: requests.Response) -> None:
        value = response.headers.get("DPoP-Nonce")
        if value:
            with self._lock:
                self._value = value


NONCE = Nonce()


def is_nonce_problem(response: requests.Response) -> bool:
    if response.status_code != 401:
        return False
    try:
        return response.json().get("type") == NONCE_PROBLEM
    except ValueError:
        return False


class DpopAuth(requests.auth.AuthBase):
    """Signs the prepared request; retries once on `use-dpop-nonce`."""

    def __init__(self, principal: Principal, with_token: bool) -> None:
        self.principal = principal
        self.with_token = with_token

    def sign(self, request: requests.PreparedRequest) -> None:
        request.headers["DPoP"] = self.principal.proof(
            request.method, request.url, NONCE.get(), self.with_token
        )
        if self.with_token:
            request.headers["Authorization"] = f"DPoP {self.principal.token}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self.sign(request)
        request.register_hook("response", self.on_response)
        return request

    def on_response(self, response: requests.Response, **kwargs) -> requests.Response:
        NONCE.update(response)
        if not is_nonce_problem(response) or getattr(response.request, "custody_retried", False):
            return response
        response.content  # noqa: B018 - drain before reusing the connection
        response.close()
        retry = response.request.copy()
        retry.custody_retried = True
        self.sign(retry)
        again = response.connection.send(retry, **kwargs)
        again.history.append(response)
        again.request = retry
        NONCE.update(again)
        return again


def principal_for(method: str, path: str) -> Principal:
    forced = os.environ.get("CUSTODY_ST_AS")
    name = forced or ROUTE_PRINCIPAL.get((method, path), "operator")
    return PRINCIPALS[name]


def is_positive(case) -> bool:
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode == GenerationMode.POSITIVE


@schemathesis.auth()
class CustodyAuth:
    """Attaches a per-request DPoP signer to every case that needs one."""

    def get(self, case, context):
        return True

    def set(self, case, data, context):
        method = case.operation.method.upper()
        path = case.operation.path
        if path == "/v1/token":
            if is_positive(case):
                case._auth = DpopAuth(PRINCIPALS["operator"], with_token=False)
            return
        if path in UNSECURED:
            return
        case._auth = DpopAuth(principal_for(method, path), with_token=True)


def pick(case) -> bool:
    """A stable coin: the same generated case always gets the same answer."""
    seen = json.dumps(
        [case.path_parameters, case.query, case.body if isinstance(case.body, (dict, list, str)) else None],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(seen.encode("utf-8")).digest()[0] % 2 == 0


@schemathesis.hook
def map_case(context, case):
    if not is_positive(case) or not pick(case):
        return case
    ids = STATE["ids"]
    path = case.operation.path
    if case.path_parameters and "id" in case.path_parameters:
        for prefix, kind in PATH_ID:
            if path.startswith(prefix):
                case.path_parameters = {**case.path_parameters, "id": ids[kind]}
                break
    if isinstance(case.body, dict):
        body = dict(case.body)
        for field, kind in BODY_ID.items():
            if field in body and isinstance(body[field], str):
                body[field] = ids[kind]
        if path == "/v1/principals":
            # Random names and groups are nearly always refused (printable, 1..=256
            # bytes): half of the picked cases name a plain support agent instead.
            body = {"class": "support_agent", "display_name": "Conformance agent", "groups": []}
        if path == "/v1/enrol" and "device" in body:
            spare = Path(STATE["spare_device"]) / "device.json"
            body["device"] = json.loads(spare.read_text(encoding="utf-8"))
        case.body = body
    return case


RECORD_LOCK = threading.Lock()


@schemathesis.hook
def after_call(context, case, response):
    auth = getattr(case, "_auth", None)
    signed_by = auth.principal.name if isinstance(auth, DpopAuth) else None
    record = {
        "method": case.operation.method.upper(),
        "path": case.operation.path,
        "principal": signed_by,
        "status": response.status_code,
        "mode": "positive" if is_positive(case) else "negative",
    }
    with RECORD_LOCK, RECORD_PATH.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
