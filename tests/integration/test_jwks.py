"""JWKS from a real local HTTP server: keys fetched, a rotated key picked up without restart."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from orderline.auth.tokens import InvalidToken, JwksKeys, TokenVerifier


class KeySet:
    """The JWKS document the server serves; tests replace its keys."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0


@pytest.fixture
def jwks() -> Iterator[tuple[str, KeySet]]:
    served = KeySet()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            body = json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", served
    finally:
        server.shutdown()
        server.server_close()


def rsa_key(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return private, public | {"kid": kid, "use": "sig", "alg": "RS256"}


def token(private: Any, kid: str, algorithm: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "idp", "aud": "orderline-api", "sub": "c1", "role": "customer"}
    body |= {"iat": now, "exp": now + 600} | claims
    return jwt.encode(body, private, algorithm=algorithm, headers={"kid": kid})


def verifier(url: str) -> TokenVerifier:
    return TokenVerifier(
        JwksKeys(url, lifespan=300, cooldown=0), issuer="idp", audience="orderline-api"
    )


def test_a_rotated_key_is_picked_up_without_a_restart(jwks: tuple[str, KeySet]) -> None:
    url, served = jwks
    old, old_jwk = rsa_key("2026-01")
    served.keys = [old_jwk]
    check = verifier(url)
    assert check.verify(token(old, "2026-01")).subject == "c1"
    assert check.verify(token(old, "2026-01", sub="c2")).subject == "c2"
    assert served.fetches == 1  # the key set is cached

    new, new_jwk = rsa_key("2026-02")
    served.keys = [new_jwk]  # the provider rotated: the old key is gone
    assert check.verify(token(new, "2026-02", sub="c3")).subject == "c3"
    assert served.fetches == 2
    with pytest.raises(InvalidToken, match="unknown signing key"):
        check.verify(token(old, "2026-01", sub="c4"))


def test_algorithms_are_pinned_to_the_key_type(jwks: tuple[str, KeySet]) -> None:
    url, served = jwks
    private, public = rsa_key("rsa-1")
    curve = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(ECAlgorithm.to_jwk(curve.public_key())) | {"kid": "ec-1"}
    served.keys = [public, ec_jwk]
    check = verifier(url)
    assert check.verify(token(curve, "ec-1", algorithm="ES256")).subject == "c1"
    # HS256 under an RSA key's kid (the classic confusion), and an EC signature under it
    confused = jwt.encode({"sub": "c1"}, "k" * 32, algorithm="HS256", headers={"kid": "rsa-1"})
    for forged in (confused, token(curve, "rsa-1", algorithm="ES256")):
        with pytest.raises(InvalidToken):
            check.verify(forged)
    assert private  # the RSA key stays unused: nothing signed with it is offered


def test_a_token_without_a_kid_is_refused(jwks: tuple[str, KeySet]) -> None:
    url, served = jwks
    private, public = rsa_key("k")
    served.keys = [public]
    bare = jwt.encode({"sub": "c1"}, private, algorithm="RS256")
    with pytest.raises(InvalidToken, match="kid"):
        verifier(url).verify(bare)
