"""The forum API end to end: users, threads, posts, validation, concurrency (both DynamoDBs)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from orderline.domain.access import Role

from ..helpers.cli import invoke, process_env
from ..helpers.server import RunningServer

MODERATOR = ("forum:moderate",)


def member(
    server: RunningServer, name: str | None = None, email: str | None = None
) -> httpx.AsyncClient:
    """A client acting as a fresh forum principal (a customer token; any role may post) whose
    token carries a verified address (`email`, default `<subject>@example.com`)."""
    subject = name or f"u-{uuid.uuid4().hex[:10]}"
    headers = server.headers(Role.CUSTOMER, subject, email=email or f"{subject}@example.com")
    return httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=headers)


async def register(http: httpx.AsyncClient) -> dict[str, Any]:
    """Register with the token's address (the body names none)."""
    response = await http.post("/api/forum/users", json={"name": "Alice"})
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
    tag = uuid.uuid4().hex[:6]
    async with member(server, email=f"Alice.{tag}@Example.com") as alice, member(server) as bob:
        user = await register(alice)
        assert user["email"] == f"alice.{tag}@example.com" and user["version"] == 1
        again = await alice.post(
            "/api/forum/users", json={"name": "A", "email": f"ALICE.{tag}@example.com"}
        )  # the old body shape: an address equal to the token's is accepted
        assert again.status_code == 409 and "already registered" in again.json()["detail"]
        seen = (await bob.get(f"/api/forum/users/{user['userId']}")).json()
        assert "email" not in seen and seen["name"] == "Alice"
        denied = await bob.patch(f"/api/forum/users/{user['userId']}", json={"name": "X"})
        assert denied.status_code == 403
        # the provider changed Alice's address: the profile follows the token's new one
        alice.headers.update(server.headers(Role.CUSTOMER, user["userId"], email=f"{tag}@ex.org"))
        changed = await alice.patch(
            f"/api/forum/users/{user['userId']}",
            json={"email": f"{tag}@ex.org"},
            headers={"If-Match": '"1"'},
        )
        assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
        assert changed.json()["email"] == f"{tag}@ex.org"
        assert (await alice.delete(f"/api/forum/users/{user['userId']}")).status_code == 204
        assert (await alice.get(f"/api/forum/users/{user['userId']}")).status_code == 404


async def test_an_address_is_only_the_tokens_own(server: RunningServer) -> None:
    """Issue 21 finding 3: registering or changing to another's address neither tells whether
    it is taken (409 vs 201 was an oracle) nor claims it; only the token's address is yours."""
    tag = uuid.uuid4().hex[:6]
    taken, free = f"taken-{tag}@example.com", f"free-{tag}@example.com"
    async with member(server, email=taken) as owner, member(server) as prober:
        first = await owner.post("/api/forum/users", json={"name": "O", "email": taken})
        assert first.status_code == 201, first.text
        answers = [
            await prober.post("/api/forum/users", json={"name": "P", "email": address})
            for address in (taken.upper(), free)
        ]
        assert [a.status_code for a in answers] == [422, 422], answers[0].text
        assert answers[0].json()["detail"] == answers[1].json()["detail"]
        assert tag not in answers[0].text and tag not in answers[1].text
        mine = await register(prober)
        assert mine["email"] == f"{mine['userId']}@example.com"
        moves = [
            await prober.patch(f"/api/forum/users/{mine['userId']}", json={"email": address})
            for address in (taken, free)
        ]
        assert [m.status_code for m in moves] == [422, 422]
        assert moves[0].json()["detail"] == moves[1].json()["detail"]
        assert tag not in moves[0].text + moves[1].text


async def test_imported_users_belong_to_no_token_subject_until_claimed(
    server: RunningServer, tmp_path: Path
) -> None:
    """Issue 21 finding 11: a json-server user "N" was owned by whoever held `sub` "N". Imported
    users live in their own id space (`import:N`), which no token subject owns; the holder of a
    token whose verified address is the imported user's claims it by registering."""
    tag = uuid.uuid4().hex[:8]
    export = {
        "users": [{"id": tag, "name": "Imported", "email": f"imp-{tag}@example.com"}],
        "threads": [{"id": f"t-{tag}", "title": "Old", "userId": tag}],
        "posts": [{"id": f"p-{tag}", "threadId": f"t-{tag}", "userId": tag, "title": "p"}],
    }
    export["posts"][0]["content"] = "hello"
    for kind, rows in export.items():
        (tmp_path / kind).mkdir()
        (tmp_path / kind / "db.json").write_text(json.dumps({kind: rows}))
    imported = await invoke(server.cli_env(), "forum", "import", str(tmp_path))
    assert imported.exit_code == 0, imported.output
    thread_url = f"/api/forum/threads/t-{tag}"
    for subject in (tag, f"import:{tag}"):  # the old id and the new one, as a token's subject
        async with member(server, subject, email=f"imp-{tag}@example.com") as squatter:
            edit = await squatter.patch(thread_url, json={"title": "Mine now"})
            assert edit.status_code == 403, edit.text
            shown = await squatter.get(f"/api/forum/users/import:{tag}")
            assert shown.status_code == 200 and "email" not in shown.json()
    async with member(server, f"import:{tag}", email=f"imp-{tag}@example.com") as squatter:
        refused = await squatter.post("/api/forum/users", json={"name": "Squatter"})
        assert refused.status_code == 403, refused.text
    async with member(server, f"real-{tag}", email=f"IMP-{tag}@example.com") as owner:
        claimed = await owner.post("/api/forum/users", json={"name": "Real"})
        assert claimed.status_code == 201, claimed.text
        assert claimed.json()["claimed"] == [f"import:{tag}"]
        profile = (await owner.get(f"/api/forum/users/import:{tag}")).json()
        assert profile["owner"] == f"real-{tag}" and "email" not in profile
        edit = await owner.patch(thread_url, json={"title": "Still mine"})
        assert edit.status_code == 200, edit.text
        post = await owner.patch(f"/api/forum/posts/p-{tag}", json={"content": "edited"})
        assert post.status_code == 200, post.text
    async with member(server, f"late-{tag}", email=f"imp-{tag}@example.com") as late:
        again = await late.post("/api/forum/users", json={"name": "Late"})
        assert again.status_code == 409  # the address is the claimant's now


async def test_registering_needs_a_verified_address(server: RunningServer) -> None:
    subject = f"u-{uuid.uuid4().hex[:10]}"
    body = {"name": "N", "email": f"{subject}@example.com"}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers(Role.CUSTOMER, subject)
    ) as http:
        answer = await http.post("/api/forum/users", json=body)
    assert answer.status_code == 403 and "email" in answer.json()["detail"]


async def test_lookup_by_email_needs_forum_moderate(server: RunningServer) -> None:
    async with member(server, email="Lookup.Me@example.com") as alice:
        user = await register(alice)
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
    email = f"race-{uuid.uuid4().hex[:6]}@example.com"
    clients = [member(server, email=email), member(server, email=email.upper())]
    answers = await asyncio.gather(
        clients[0].post("/api/forum/users", json={"name": "A"}),
        clients[1].post("/api/forum/users", json={"name": "B"}),
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
    assert "409\n" in done.stdout and "422\n" in done.stdout and "403\n" in done.stdout
    assert '"postCount":1' in done.stdout and '"title":"Welcome!"' in done.stdout
    assert "posts: " in done.stdout
