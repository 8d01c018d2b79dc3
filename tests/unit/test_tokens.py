"""Token verification: algorithms pinned, time claims with leeway, one verification per token."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest

from orderline.auth.dev import DevSigner
from orderline.auth.limits import RateLimiter, retry_after
from orderline.auth.tokens import InvalidToken, StaticKey, TokenVerifier
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


def test_rate_limit_is_a_token_bucket_per_key() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5) and retry_after(wait) == "1"
    assert limiter.take("b") is None  # another principal has its own bucket
    now[0] = 0.5
    assert limiter.take("a") is None


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
