"""The forum API end to end: users, threads, posts, validation, concurrency (both DynamoDBs)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderline.domain.access import Role

from ..helpers.cli import process_env
from ..helpers.server import RunningServer

MODERATOR = ("forum:moderate",)


def member(server: RunningServer, name: str | None = None) -> httpx.AsyncClient:
    """A client acting as a fresh forum principal (a customer token; any role may post)."""
    subject = name or f"u-{uuid.uuid4().hex[:10]}"
    return httpx.AsyncClient(
        base_url=server.base_url, timeout=30, headers=server.headers(Role.CUSTOMER, subject)
    )


async def register(http: httpx.AsyncClient, email: str | None = None) -> dict[str, Any]:
    email = email or f"{uuid.uuid4().hex[:8]}@example.com"
    response = await http.post("/api/forum/users", json={"name": "Alice", "email": email})
    assert response.status_code == 201, response.text
    return response.json()


async def thread(http: httpx.AsyncClient, title: str = "Welcome") -> dict[str, Any]:
    response = await http.post("/api/forum/threads", json={"title": title, "description": "d"})
    assert response.status_code == 201, response.text
    return response.json()


async def post(http: httpx.AsyncClient, thread_id: str, n: int = 0) -> dict[str, Any]:
    response = await http.post(
        f"/api/forum/threads/{thread_id}/posts", json={"title": f"p{n}", "content": "hello"}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_users_register_read_update_delete(server: RunningServer) -> None:
    async with member(server) as alice, member(server) as bob:
        user = await register(alice, "Alice.Smith@Example.com")
        assert user["email"] == "alice.smith@example.com" and user["version"] == 1
        again = await bob.post(
            "/api/forum/users", json={"name": "Bob", "email": "ALICE.SMITH@example.com"}
        )
        assert again.status_code == 409 and "already registered" in again.json()["detail"]
        seen = (await bob.get(f"/api/forum/users/{user['userId']}")).json()
        assert "email" not in seen and seen["name"] == "Alice"
        denied = await bob.patch(f"/api/forum/users/{user['userId']}", json={"name": "X"})
        assert denied.status_code == 403
        changed = await alice.patch(
            f"/api/forum/users/{user['userId']}",
            json={"email": "alice@example.org"},
            headers={"If-Match": '"1"'},
        )
        assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
        # the old address is free again, the new one taken
        await register(bob, "alice.smith@example.com")
        assert (await alice.delete(f"/api/forum/users/{user['userId']}")).status_code == 204
        assert (await alice.get(f"/api/forum/users/{user['userId']}")).status_code == 404


async def test_lookup_by_email_needs_forum_moderate(server: RunningServer) -> None:
    async with member(server) as alice:
        user = await register(alice, "Lookup.Me@example.com")
        refused = await alice.get("/api/forum/users", params={"email": "lookup.me@example.com"})
        assert refused.status_code == 403 and refused.json()["requiredScope"] == "forum:moderate"
    headers = server.headers(Role.STAFF, "mod-1", scopes=MODERATOR)
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as moderator:
        found = await moderator.get("/api/forum/users", params={"email": "LOOKUP.me@example.com"})
        assert found.status_code == 200 and found.json()["userId"] == user["userId"]
        missing = await moderator.get("/api/forum/users", params={"email": "nobody@example.com"})
        assert missing.status_code == 404


async def test_threads_and_posts(server: RunningServer) -> None:
    async with member(server) as alice, member(server) as bob:
        unregistered = await alice.post("/api/forum/threads", json={"title": "t"})
        assert unregistered.status_code == 404
        await register(alice)
        await register(bob)
        first = await thread(alice, "First")
        second = await thread(alice, "Second")
        listed = (await bob.get("/api/forum/threads", params={"limit": 100})).json()["items"]
        ids = [t["threadId"] for t in listed]
        assert ids.index(second["threadId"]) < ids.index(first["threadId"])
        posts = [await post(bob if n % 2 else alice, first["threadId"], n) for n in range(3)]
        got = (await bob.get(f"/api/forum/threads/{first['threadId']}")).json()
        assert got["postCount"] == 3 and got["lastPostAt"] == posts[-1]["createdAt"]
        url = f"/api/forum/threads/{first['threadId']}/posts"
        asc = (await bob.get(url)).json()["items"]
        desc = (await bob.get(url, params={"order": "desc"})).json()["items"]
        assert [p["postId"] for p in asc] == [p["postId"] for p in posts]
        assert [p["postId"] for p in desc] == [p["postId"] for p in reversed(posts)]
        mine = (await bob.get(f"/api/forum/users/{posts[1]['userId']}/posts")).json()["items"]
        assert [p["postId"] for p in mine] == [posts[1]["postId"]]
        # another's post: 403; own: deleted, and the thread's count and last post follow
        assert (await bob.delete(f"/api/forum/posts/{posts[2]['postId']}")).status_code == 403
        assert (await alice.delete(f"/api/forum/posts/{posts[2]['postId']}")).status_code == 204
        got = (await bob.get(f"/api/forum/threads/{first['threadId']}")).json()
        assert got["postCount"] == 2 and got["lastPostAt"] == posts[1]["createdAt"]
        assert (await bob.get(f"/api/forum/posts/{posts[2]['postId']}")).status_code == 404
        edited = await bob.patch(f"/api/forum/posts/{posts[1]['postId']}", json={"content": "x"})
        assert edited.status_code == 200 and edited.json()["content"] == "x"
        assert (await bob.delete(f"/api/forum/threads/{first['threadId']}")).status_code == 403
        assert (await alice.delete(f"/api/forum/threads/{first['threadId']}")).status_code == 204
        assert (await bob.get(f"/api/forum/posts/{posts[0]['postId']}")).status_code == 404
        assert (await bob.get(url)).status_code == 404


async def test_moderator_edits_anyone(server: RunningServer) -> None:
    async with member(server) as alice:
        await register(alice)
        t = await thread(alice)
    headers = server.headers(Role.STAFF, "mod-2", scopes=MODERATOR)
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers) as moderator:
        url = f"/api/forum/threads/{t['threadId']}"
        changed = await moderator.patch(url, json={"title": "Moderated"})
        assert changed.status_code == 200 and changed.json()["version"] == 2
        assert (await moderator.delete(url)).status_code == 204


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"title": "   ", "content": "x"}, 422, "body.title"),
        ({"title": "t", "content": "x", "userId": "me"}, 422, "body.userId"),
        ({"title": 5, "content": "x"}, 422, "body.title"),
        ({"title": "t" * 201, "content": "x"}, 422, "body.title"),
        ({"title": "t", "content": "é" * 210_000}, 413, None),
    ],
)
async def test_post_validation(
    server: RunningServer, body: dict[str, Any], status: int, field: str | None
) -> None:
    async with member(server) as alice:
        await register(alice)
        t = await thread(alice)
        response = await alice.post(f"/api/forum/threads/{t['threadId']}/posts", json=body)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        if field:
            assert response.json()["errors"][0]["field"] == field
        else:
            assert "400 KB" in response.json()["detail"]


async def test_concurrent_registrations_of_one_email(server: RunningServer) -> None:
    clients = [member(server) for _ in range(2)]
    email = f"race-{uuid.uuid4().hex[:6]}@example.com"
    answers = await asyncio.gather(
        clients[0].post("/api/forum/users", json={"name": "A", "email": email}),
        clients[1].post("/api/forum/users", json={"name": "B", "email": email.upper()}),
    )
    for http in clients:
        await http.aclose()
    assert sorted(a.status_code for a in answers) == [201, 409]


async def test_twenty_concurrent_posts_count_twenty(server: RunningServer) -> None:
    async with member(server) as alice:
        await register(alice)
        t = await thread(alice)
        await asyncio.gather(*(post(alice, t["threadId"], n) for n in range(20)))
        got = (await alice.get(f"/api/forum/threads/{t['threadId']}")).json()
        assert got["postCount"] == 20
        listed = await alice.get(f"/api/forum/threads/{t['threadId']}/posts", params={"limit": 50})
        assert got["lastPostAt"] == listed.json()["items"][-1]["createdAt"]


async def test_concurrent_edits_with_if_match(server: RunningServer) -> None:
    async with member(server) as alice:
        await register(alice)
        t = await thread(alice)
        url = f"/api/forum/threads/{t['threadId']}"
        answers = await asyncio.gather(
            *(
                alice.patch(url, json={"title": f"v{n}"}, headers={"If-Match": '"1"'})
                for n in range(2)
            )
        )
        assert sorted(a.status_code for a in answers) == [200, 412]
        stale = next(a for a in answers if a.status_code == 412)
        assert stale.json()["currentVersion"] == 2


def test_readme_forum_walkthrough_runs(server: RunningServer) -> None:
    readme = Path(__file__).parents[2] / "README.md"
    section = readme.read_text().split("\n## Forum\n", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "README has no bash block under 'Forum'"
    users = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    script = (
        found.group(1)
        .replace("BASE=http://127.0.0.1:8000", f"BASE={server.base_url}", 1)
        .replace("--sub alice", f"--sub {users[0]}")
        .replace("--sub bob", f"--sub {users[1]}")
        .replace("users/bob/posts", f"users/{users[1]}/posts")
        .replace("Alice@Example.com", f"{users[0]}@Example.com")
        .replace("ALICE@example.com", f"{users[0].upper()}@example.com")
        .replace("alice@example.com", f"{users[0]}@example.com")
        .replace("bob@example.com", f"{users[1]}@example.com")
    )
    env = process_env(server.cli_env())
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=readme.parent,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "409\n" in done.stdout and "403\n" in done.stdout
    assert '"postCount":1' in done.stdout and '"title":"Welcome!"' in done.stdout
    assert "posts: " in done.stdout
