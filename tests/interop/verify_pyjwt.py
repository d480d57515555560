#!/usr/bin/env python3
"""Independent check of custody tokens with PyJWT (+ cryptography).

Usage: verify_pyjwt.py JWKS_FILE TOKEN_FILE PROOF_FILE ISSUER AUDIENCE METHOD URL

Verifies, with no custody code involved:
  * the access token's EdDSA signature against the JWKS (key chosen by `kid`),
    its `typ` (at+jwt), `iss`, `aud` and `exp`, and the RFC 9068 claims;
  * the DPoP proof's signature with the JWK embedded in its header, its `typ`
    (dpop+jwt), `htm`, `htu`, and `ath` = base64url(SHA-256(token));
  * that the RFC 7638 thumbprint of the proof's JWK equals the token's `cnf.jkt`.
Exit 0 when everything verifies, 1 on any failure (with the reason on stderr).
"""

import base64
import hashlib
import json
import sys

import jwt  # PyJWT


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: dict) -> str:
    """RFC 7638: required members in lexicographic order, no whitespace."""
    if jwk.get("kty") != "OKP":
        raise ValueError("unexpected kty")
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]},
        separators=(",", ":"),
        sort_keys=True,
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def main(argv):
    jwks_path, token_path, proof_path, issuer, audience, method, url = argv[1:8]
    with open(jwks_path, encoding="utf-8") as f:
        jwks = jwt.PyJWKSet.from_json(f.read())
    with open(token_path, encoding="utf-8") as f:
        token = f.read().strip()
    with open(proof_path, encoding="utf-8") as f:
        proof = f.read().strip()

    header = jwt.get_unverified_header(token)
    if header.get("typ") != "at+jwt":
        raise ValueError("token typ is not at+jwt")
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims = jwt.decode(
        token,
        key=key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti", "client_id", "cnf"]},
    )

    proof_header = jwt.get_unverified_header(proof)
    if proof_header.get("typ") != "dpop+jwt":
        raise ValueError("proof typ is not dpop+jwt")
    proof_key = jwt.PyJWK(proof_header["jwk"], algorithm="EdDSA")
    proof_claims = jwt.decode(proof, key=proof_key.key, algorithms=["EdDSA"])
    if proof_claims["htm"] != method or proof_claims["htu"] != url:
        raise ValueError("proof htm/htu mismatch")
    if proof_claims["ath"] != b64url(hashlib.sha256(token.encode("ascii")).digest()):
        raise ValueError("proof ath mismatch")
    if thumbprint(proof_header["jwk"]) != claims["cnf"]["jkt"]:
        raise ValueError("proof key thumbprint differs from cnf.jkt")

    print(json.dumps({"ok": True, "sub": claims["sub"], "cls": claims["cls"], "jkt": claims["cnf"]["jkt"]}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # any failure is a refusal
        print(f"refused: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
