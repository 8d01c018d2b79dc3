"""JWKS from a real local HTTP server: keys fetched, a rotated key picked up without restart."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from orderline.auth.jwks import JwksKeys, KeysUnavailable
from orderline.auth.tokens import InvalidToken, TokenVerifier


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


def test_a_key_that_declares_its_algorithm_signs_only_with_it(jwks: tuple[str, KeySet]) -> None:
    """RFC 8725 3.1: a JWK's own `alg` pins it; another RSA algorithm under its kid is refused."""
    url, served = jwks
    private, public = rsa_key("rs512-only")
    served.keys = [public | {"alg": "RS512"}]
    check = verifier(url)
    assert check.verify(token(private, "rs512-only", algorithm="RS512")).subject == "c1"
    with pytest.raises(InvalidToken, match="algorithm"):
        check.verify(token(private, "rs512-only", algorithm="RS256", sub="c2"))


def test_an_unknown_kid_is_not_repeated_in_the_refusal(jwks: tuple[str, KeySet]) -> None:
    url, served = jwks
    private, public = rsa_key("k")
    served.keys = [public]
    with pytest.raises(InvalidToken) as refused:
        verifier(url).verify(token(private, "☃" * 50))
    assert str(refused.value).isascii() and "☃" not in str(refused.value)


@pytest.fixture
def silent_jwks() -> Iterator[tuple[str, list[float]]]:
    """An identity provider that accepts connections and never answers (it is down)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[float] = []
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(time.monotonic())
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json", accepted
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_while_the_provider_is_down_tokens_fail_fast_and_fetch_once(
    silent_jwks: tuple[str, list[float]],
) -> None:
    """Finding 9: new tokens no longer queue one by one on the JWKS timeout; one fetch is in
    flight at a time and its failure is remembered, so the rest fail at once."""
    url, accepted = silent_jwks
    check = TokenVerifier(
        JwksKeys(url, timeout=0.5, cooldown=0), issuer="idp", audience="orderline-api"
    )
    private, _ = rsa_key("k")
    tokens = [token(private, "k", sub=f"c{n}") for n in range(6)]
    outcomes: list[BaseException] = []

    def attempt(text: str) -> None:
        try:
            check.verify(text)
        except Exception as exc:
            outcomes.append(exc)

    start = time.monotonic()
    threads = [threading.Thread(target=attempt, args=(text,)) for text in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert len(outcomes) == 6 and all(isinstance(o, KeysUnavailable) for o in outcomes)
    assert elapsed < 1.2, f"six new tokens took {elapsed:.1f} s"
    assert len(accepted) == 1  # one fetch, not one per token
    with pytest.raises(KeysUnavailable) as later:
        check.verify(token(private, "k", sub="late"))
    assert 0 < later.value.retry_after_seconds <= 30
    assert len(accepted) == 1  # still remembered as down
