"""Token verification: algorithms pinned, time claims with leeway, one verification per token."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from orderline.adapters.errors import StartupError
from orderline.auth.dev import DevSigner
from orderline.auth.limits import RateLimiter, address_key, retry_after
from orderline.auth.tokens import InvalidToken, StaticKey, TokenVerifier, actor_of
from orderline.bootstrap import build_auth
from orderline.config import Settings
from orderline.domain.access import Role


@pytest.fixture
def signer(tmp_path: Path) -> DevSigner:
    return DevSigner(tmp_path, issuer="iss", audience="aud")


def verifier(signer: DevSigner, *, leeway: float = 30, now: float | None = None) -> TokenVerifier:
    clock = (lambda: now) if now is not None else time.time
    return TokenVerifier(
        StaticKey(signer.public_key), issuer="iss", audience="aud", leeway=leeway, clock=clock
    )


def test_a_valid_token_becomes_its_actor(signer: DevSigner) -> None:
    token = signer.issue("r-chef", Role.RESTAURANT, restaurant_id="r1", scopes=("a:b", "c:d"))
    actor = verifier(signer).verify(token)
    assert (actor.subject, actor.role, actor.restaurant_id) == ("r-chef", Role.RESTAURANT, "r1")
    assert actor.scopes == {"a:b", "c:d"}


def test_expiry_and_not_before_with_leeway(signer: DevSigner) -> None:
    now = time.time()
    expired_a_little = signer.issue("c", Role.CUSTOMER, ttl_seconds=60, now=now - 80)
    assert verifier(signer, leeway=30).verify(expired_a_little).subject == "c"
    with pytest.raises(InvalidToken, match="expired"):
        verifier(signer, leeway=10).verify(expired_a_little)
    not_yet = signer.issue("c", Role.CUSTOMER, now=now + 20)
    assert verifier(signer, leeway=30).verify(not_yet).subject == "c"
    with pytest.raises(InvalidToken, match=r"not valid yet|invalid"):
        verifier(signer, leeway=5).verify(signer.issue("c", Role.CUSTOMER, now=now + 20))


def test_a_cached_token_still_expires(signer: DevSigner) -> None:
    token = signer.issue("c", Role.CUSTOMER, ttl_seconds=60)
    check = verifier(signer, leeway=0)
    check.verify(token)
    assert check.cached(token) is not None
    later = verifier(signer, leeway=0, now=time.time() + 120)
    later._cache.update(check._cache)  # same cache, a clock two minutes on
    assert later.cached(token) is None


def _forged(header: dict[str, str], token: str) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    _, claims, _ = token.split(".")
    return f"{b64(json.dumps(header).encode())}.{claims}."


def test_alg_none_and_hmac_confusion_are_refused(signer: DevSigner) -> None:
    token = signer.issue("c", Role.CUSTOMER)
    with pytest.raises(InvalidToken):
        verifier(signer).verify(_forged({"alg": "none", "typ": "JWT"}, token))
    claims = jwt.decode(token, options={"verify_signature": False})
    hs = jwt.encode(claims, "a-shared-secret-that-is-not-the-key!", algorithm="HS256")
    with pytest.raises(InvalidToken):
        verifier(signer).verify(hs)


def test_claims_that_make_no_principal_are_refused(signer: DevSigner) -> None:
    with pytest.raises(InvalidToken, match="restaurantId"):
        verifier(signer).verify(signer.issue("chef", Role.RESTAURANT))


@pytest.mark.parametrize(
    ("extra", "email"),
    [
        ({}, None),
        ({"email": "a@x.io"}, "a@x.io"),  # a provider that omits email_verified
        ({"email": "a@x.io", "email_verified": True}, "a@x.io"),
        ({"email": "a@x.io", "email_verified": False}, None),
        ({"email": "a@x.io", "email_verified": "false"}, None),
        ({"email": 5, "email_verified": True}, None),
    ],
)
def test_only_an_address_not_said_unverified_is_the_actors(
    extra: dict[str, object], email: str | None
) -> None:
    claims = {"sub": "s", "role": "customer", **extra}
    assert actor_of(claims).email == email


def test_dev_tokens_carry_a_verified_address(signer: DevSigner) -> None:
    token = signer.issue("c", Role.CUSTOMER, email="Me@Example.com")
    assert verifier(signer).verify(token).email == "Me@Example.com"


def test_rate_limit_is_a_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5) and retry_after(wait) == "1"
    assert limiter.take("b") is None  # another principal has its own bucket
    now[0] = 0.5
    assert limiter.take("a") is None


def _signed_with_header(signer: DevSigner, **header: object) -> str:
    """A token the dev key really signed, with extra header parameters."""
    claims = jwt.decode(signer.issue("c", Role.CUSTOMER), options={"verify_signature": False})
    private = signer._private  # the dev key itself: only the header differs from issue()
    return jwt.encode(claims, private, algorithm="EdDSA", headers=dict(header))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"])
def test_an_access_token_type_is_accepted(signer: DevSigner, typ: str) -> None:
    assert verifier(signer).verify(_signed_with_header(signer, typ=typ)).subject == "c"


@pytest.mark.parametrize("typ", ["secevent+jwt", "logout+jwt", "JWE", "id_token+jwt", "dpop+jwt"])
def test_another_token_type_is_refused(signer: DevSigner, typ: str) -> None:
    """RFC 8725 3.11: a token of another kind (a logout token, a security event) is not ours."""
    with pytest.raises(InvalidToken, match="type"):
        verifier(signer).verify(_signed_with_header(signer, typ=typ))


@pytest.mark.parametrize(
    "header",
    [{"crit": ["☃-exp"]}, {"crit": ["x" * 3000]}, {"kid": "☃"}, {"typ": "☃+jwt"}],
)
def test_the_refusal_never_repeats_token_text(signer: DevSigner, header: dict[str, object]) -> None:
    """Finding 6: what the client sent must not come back (a header it cannot encode is a 500)."""
    token = _signed_with_header(signer, **header)
    try:
        verifier(signer).verify(token)
    except InvalidToken as refused:
        message = str(refused)
    else:
        return  # accepted (a kid the static key ignores): nothing is echoed either
    assert message.isascii() and len(message) < 100, message
    assert "☃" not in message and "xxx" not in message


@pytest.mark.parametrize(
    "url", ["http://idp.example.com/jwks.json", "http://10.0.0.5/jwks", "ftp://idp/jwks"]
)
def test_a_jwks_url_without_tls_is_refused_at_start(url: str, tmp_path: Path) -> None:
    """RFC 8725 3.x: keys fetched in clear text can be swapped on the way."""
    with pytest.raises(StartupError, match="ORDERLINE_JWT_JWKS_URL") as refused:
        build_auth(Settings(jwt_jwks_url=url, data_dir=tmp_path))
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    ["https://idp.example.com/jwks.json", "http://127.0.0.1:8080/jwks", "http://[::1]:9/jwks"],
)
def test_https_or_loopback_jwks_urls_are_accepted(url: str, tmp_path: Path) -> None:
    assert build_auth(Settings(jwt_jwks_url=url, data_dir=tmp_path)).enabled


def test_failed_authentications_are_limited_per_address() -> None:
    """`blocked` looks without spending; `take` spends one failure."""
    now = [0.0]
    failures = RateLimiter(rate=1, burst=2, clock=lambda: now[0])
    assert failures.blocked("10.0.0.1") is None
    failures.take("10.0.0.1")
    failures.take("10.0.0.1")
    assert failures.blocked("10.0.0.1") == pytest.approx(1.0)
    assert failures.blocked("10.0.0.1") == pytest.approx(1.0)  # looking spends nothing
    assert failures.blocked("10.0.0.2") is None
    now[0] = 1.0
    assert failures.blocked("10.0.0.1") is None


def test_an_ipv6_client_is_limited_by_its_slash_64() -> None:
    """One IPv6 host usually holds a whole /64: rotating addresses in it is one client."""
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("192.0.2.7") == "192.0.2.7"


def test_a_costly_request_takes_its_cost_and_work_done_is_charged_after() -> None:
    """Finding 9 (issue 21): costly paths cost more than one token."""
    now = [0.0]
    limiter = RateLimiter(rate=1, burst=10, clock=lambda: now[0])
    assert limiter.take("a", cost=8) is None
    assert limiter.take("a", cost=3) == pytest.approx(1.0)  # 2 left: refused, nothing taken
    assert limiter.take("a", cost=50) == pytest.approx(8.0)  # at most the whole burst
    limiter.charge("a", 5)  # work already done: the bucket goes into debt
    assert limiter.take("a") == pytest.approx(4.0)
    now[0] = 4.0
    assert limiter.take("a") is None
