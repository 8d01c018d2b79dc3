"""The forum (DynamoDB is its database): users, threads, posts. Reads are open to every
authenticated principal; authors change their own content, `forum:moderate` anyone's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from orderline.forum.model import (
    EMAIL_PATTERN,
    MAX_EMAIL,
    THREAD_PAGE_KEY,
    THREAD_POSTS_KEY,
    USER_POSTS_KEY,
    Key,
    Page,
    PostIn,
    PostPatch,
    ThreadIn,
    ThreadPatch,
    UserIn,
    UserPatch,
)
from orderline.forum.service import user_view

from ..deps import ActorDep, ExpectedVersion, ForumDep
from ..paging import ForumCursor, PageSize, Paging, PagingDep
from ..responses import JSONResponse, versioned
from ..schemas import problem_responses

router = APIRouter(prefix="/api/forum", tags=["forum"])
WRITES = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503)
READS = problem_responses(400, 401, 404, 422, 429, 503)
Id = Annotated[str, Path(min_length=1, max_length=64)]


def _page(paging: Paging, query: str, page: Page) -> JSONResponse:
    return JSONResponse(
        {"items": page.items, "nextCursor": paging.next_cursor(query, page.next_key)}
    )


def _after(paging: Paging, query: str, cursor: str | None, names: Sequence[str]) -> Key | None:
    def read(position: dict[str, Any]) -> Key:
        if set(position) != set(names) or not all(isinstance(v, str) for v in position.values()):
            raise ValueError("cursor does not hold a position of this listing")
        return {name: position[name] for name in names}

    return paging.position(query, cursor, read)


# -- users --------------------------------------------------------------------------------------


@router.post("/users", status_code=201, responses=WRITES, summary="Register as a forum user")
async def register(
    body: UserIn, request: Request, forum: ForumDep, actor: ActorDep
) -> JSONResponse:
    """The forum user is the token's subject, its address the token's verified `email` claim
    (403 without one). `email` in the body may be left out; given, it must be that address
    (422 otherwise, saying nothing about who holds it). An imported user holding the address is
    claimed. 409: already registered, or the address (any case) is another user's."""
    user = await forum.register(actor, body)
    response = versioned(user, 201)
    response.headers["Location"] = str(request.url_for("forum_user", user_id=user["userId"]))
    return response


@router.get("/users", responses=READS | problem_responses(403), summary="Find a user by email")
async def user_by_email(
    forum: ForumDep,
    actor: ActorDep,
    email: Annotated[str, Query(min_length=3, max_length=MAX_EMAIL, pattern=EMAIL_PATTERN)],
) -> JSONResponse:
    """Through the EmailIndex, case-insensitively. Needs forum:moderate."""
    return versioned(await forum.user_by_email(actor, email))


@router.get("/users/{user_id}", name="forum_user", responses=READS, summary="A forum user")
async def get_user(user_id: Id, forum: ForumDep, actor: ActorDep) -> JSONResponse:
    """Any authenticated principal; the email only for the user and moderators."""
    return versioned(user_view(actor, await forum.user(user_id)))


@router.patch("/users/{user_id}", responses=WRITES, summary="Change your profile")
async def patch_user(
    user_id: Id, body: UserPatch, forum: ForumDep, actor: ActorDep, version: ExpectedVersion
) -> JSONResponse:
    """`name`, `email` (only the token's current address); only your own profile (or an
    imported one you claimed). `If-Match` → 412 when stale."""
    return versioned(await forum.update_user(actor, user_id, body, version))


@router.delete("/users/{user_id}", status_code=204, responses=WRITES, summary="Delete a user")
async def delete_user(
    user_id: Id, forum: ForumDep, actor: ActorDep, version: ExpectedVersion
) -> Response:
    """Yourself, or anyone with forum:moderate. The address is free again; posts and threads
    stay (they keep the userId)."""
    await forum.delete_user(actor, user_id, version)
    return Response(status_code=204)


@router.get("/users/{user_id}/posts", responses=READS, summary="A user's posts, newest first")
async def user_posts(
    user_id: Id,
    forum: ForumDep,
    paging: PagingDep,
    actor: ActorDep,
    limit: PageSize = 20,
    cursor: ForumCursor = None,
) -> JSONResponse:
    """Through the UserIndex; follow `nextCursor`."""
    query = f"forum-user-posts|{user_id}"
    after = _after(paging, query, cursor, USER_POSTS_KEY)
    size = paging.size(limit)
    return _page(paging, query, await forum.user_posts(user_id, size, after))


# -- threads ------------------------------------------------------------------------------------


@router.post("/threads", status_code=201, responses=WRITES, summary="Start a thread")
async def create_thread(
    body: ThreadIn, request: Request, forum: ForumDep, actor: ActorDep
) -> JSONResponse:
    """`title` (trimmed, not blank), `description`; the author is the token's subject, who must
    be a registered forum user (404 otherwise)."""
    thread = await forum.create_thread(actor, body)
    response = versioned(thread, 201)
    response.headers["Location"] = str(
        request.url_for("forum_thread", thread_id=thread["threadId"])
    )
    return response


@router.get("/threads", responses=READS, summary="Threads, newest first")
async def list_threads(
    forum: ForumDep,
    paging: PagingDep,
    actor: ActorDep,
    limit: PageSize = 20,
    cursor: ForumCursor = None,
) -> JSONResponse:
    """Through the CreatedAtIndex; follow `nextCursor`."""
    query = "forum-threads"
    after = _after(paging, query, cursor, THREAD_PAGE_KEY)
    size = paging.size(limit)
    return _page(paging, query, await forum.threads(size, after))


@router.get("/threads/{thread_id}", name="forum_thread", responses=READS, summary="A thread")
async def get_thread(thread_id: Id, forum: ForumDep, actor: ActorDep) -> JSONResponse:
    """With `postCount` and `lastPostAt`."""
    return versioned(await forum.thread(thread_id))


@router.patch("/threads/{thread_id}", responses=WRITES, summary="Edit a thread")
async def patch_thread(
    thread_id: Id,
    body: ThreadPatch,
    forum: ForumDep,
    actor: ActorDep,
    version: ExpectedVersion,
) -> JSONResponse:
    """Its author or forum:moderate; `If-Match` → 412 when stale."""
    return versioned(await forum.update_thread(actor, thread_id, body, version))


@router.delete("/threads/{thread_id}", status_code=204, responses=WRITES, summary="Delete a thread")
async def delete_thread(
    thread_id: Id, forum: ForumDep, actor: ActorDep, version: ExpectedVersion
) -> Response:
    """Its author or forum:moderate; its posts go with it."""
    await forum.delete_thread(actor, thread_id, version)
    return Response(status_code=204)


# -- posts --------------------------------------------------------------------------------------


@router.post(
    "/threads/{thread_id}/posts", status_code=201, responses=WRITES, summary="Post in a thread"
)
async def create_post(
    thread_id: Id, body: PostIn, request: Request, forum: ForumDep, actor: ActorDep
) -> JSONResponse:
    """The thread's `postCount` and `lastPostAt` change in the same transaction."""
    post = await forum.create_post(actor, thread_id, body)
    response = versioned(post, 201)
    response.headers["Location"] = str(request.url_for("forum_post", post_id=post["postId"]))
    return response


@router.get("/threads/{thread_id}/posts", responses=READS, summary="A thread's posts")
async def thread_posts(
    thread_id: Id,
    forum: ForumDep,
    paging: PagingDep,
    actor: ActorDep,
    order: Literal["asc", "desc"] = "asc",
    limit: PageSize = 20,
    cursor: ForumCursor = None,
) -> JSONResponse:
    """Oldest first (`order=asc`) or newest first (`desc`), through the ThreadIndex."""
    query = f"forum-thread-posts|{thread_id}|{order}"
    after = _after(paging, query, cursor, THREAD_POSTS_KEY)
    size = paging.size(limit)
    page = await forum.thread_posts(thread_id, order, size, after)
    return _page(paging, query, page)


@router.get("/posts/{post_id}", name="forum_post", responses=READS, summary="A post")
async def get_post(post_id: Id, forum: ForumDep, actor: ActorDep) -> JSONResponse:
    return versioned(await forum.post(post_id))


@router.patch("/posts/{post_id}", responses=WRITES, summary="Edit a post")
async def patch_post(
    post_id: Id,
    body: PostPatch,
    forum: ForumDep,
    actor: ActorDep,
    version: ExpectedVersion,
) -> JSONResponse:
    """Its author or forum:moderate; `If-Match` → 412 when stale."""
    return versioned(await forum.update_post(actor, post_id, body, version))


@router.delete("/posts/{post_id}", status_code=204, responses=WRITES, summary="Delete a post")
async def delete_post(
    post_id: Id, forum: ForumDep, actor: ActorDep, version: ExpectedVersion
) -> Response:
    """Its author or forum:moderate; the thread's count goes down in the same transaction."""
    await forum.delete_post(actor, post_id, version)
    return Response(status_code=204)
