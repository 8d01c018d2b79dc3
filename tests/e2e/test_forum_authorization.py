"""The forum's authorization matrix: every forum route × caller × own / another's / missing.

Forum content is readable by every authenticated principal; writes to another user's object are
403 (moderators with forum:moderate excepted), a missing object 404. `FORUM_ROWS` (in
tests/helpers/authorization.py) is part of the route-coverage check in
`test_authorization_matrix.py`: a forum route without a row fails it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from orderline.domain.access import Role

from ..helpers.authorization import BAD, FORUM_ROWS, tokens
from ..helpers.server import RunningServer

CALLERS = ("member", "moderator")
OBJECTS = ("own", "another's", "missing")


@dataclass
class Person:
    http: httpx.AsyncClient
    user_id: str
    email: str = field(default="")

    async def register(self) -> None:
        answer = await self.http.post("/api/forum/users", json={"name": "n"})
        assert answer.status_code == 201, answer.text
        self.email = answer.json()["email"]  # the token's

    async def content(self) -> tuple[str, str]:
        """A fresh thread with one post, both this person's."""
        made = await self.http.post("/api/forum/threads", json={"title": "t"})
        thread_id = made.json()["threadId"]
        posted = await self.http.post(
            f"/api/forum/threads/{thread_id}/posts", json={"title": "p", "content": "c"}
        )
        return thread_id, posted.json()["postId"]


def person(server: RunningServer, role: Role, scopes: tuple[str, ...] = ()) -> Person:
    subject = f"fz-{uuid.uuid4().hex[:8]}"
    headers = server.headers(role, subject, scopes=scopes, email=f"{subject}@example.com")
    return Person(httpx.AsyncClient(base_url=server.base_url, headers=headers), subject)


def request_for(method: str, path: str, owner: Person, ids: tuple[str, str]) -> dict[str, Any]:
    thread_id, post_id = ids
    url = (
        path.replace("{user_id}", owner.user_id)
        .replace("{thread_id}", thread_id)
        .replace("{post_id}", post_id)
    )
    params: dict[str, str] = {}
    body: Any = None
    if path == "/api/forum/users" and method == "GET":
        params = {"email": owner.email}
    elif path == "/api/forum/users":
        body = {"name": "again"}  # the address is the caller's token's
    elif path == "/api/forum/users/{user_id}":
        body = {"name": "renamed"} if method == "PATCH" else None
    elif method in ("POST", "PATCH"):
        body = {"title": "x", "content": "y"} if "post" in path else {"title": "x"}
    return {"method": method, "url": url, "params": params, "json": body}


@pytest.mark.parametrize("caller", BAD + CALLERS)
async def test_forum_matrix(server: RunningServer, caller: str, tmp_path: Any) -> None:
    member = person(server, Role.CUSTOMER)
    moderator = person(server, Role.STAFF, ("forum:moderate",))
    other = person(server, Role.RESTAURANT)
    other.http.headers.update(
        server.headers(Role.CUSTOMER, other.user_id, email=f"{other.user_id}@example.com")
    )
    for someone in (member, moderator, other):
        await someone.register()
    me = member if caller in BAD or caller == "member" else moderator
    if caller in BAD:
        token = tokens(server, tmp_path)[caller]
        me = Person(
            httpx.AsyncClient(
                base_url=server.base_url,
                headers={"Authorization": f"Bearer {token}"} if token else {},
            ),
            member.user_id,
            member.email,
        )
    failures = []
    standing = {"own": await member.content(), "another's": await other.content()}
    for (method, path), (expect, changes) in FORUM_ROWS.items():
        for obj in OBJECTS:
            owner = {"own": me, "another's": other}.get(obj) or Person(
                me.http, "nobody-x", "no@x.io"
            )
            if obj == "missing":
                ids = ("missing-thread", "missing-post")
            elif changes:
                ids = await (member if owner is me else other).content()
            else:
                ids = standing[obj]
            if obj == "own" and caller == "moderator":
                ids = await moderator.content() if changes else ids
            wanted = 401 if caller in BAD else expect(caller, obj)
            answer = await me.http.request(**request_for(method, path, owner, ids))
            if answer.status_code != wanted:
                failures.append(f"{method} {path} [{obj}]: {answer.status_code}, wanted {wanted}")
            if method == "DELETE" and path.endswith("{user_id}") and answer.status_code == 204:
                await (me if obj == "own" else other).register()
    for someone in (member, moderator, other, me):
        await someone.http.aclose()
    assert not failures, "\n".join(failures)
