"""Forum use cases: who may do what (authors and `forum:moderate`), then one store call each.

Reads of forum content are open to every authenticated principal; a user's email address only
to that user and to moderators. Writes to another user's object are 403; missing objects 404.
A user's address is the token's verified one. Imported users (`import:` ids) belong to no token
subject: a subject in that space is refused, and an imported user's content is the principal's
who claimed it (claims.py).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from orderline.adapters.dynamodb.codec import Item
from orderline.domain.access import Actor, Scope
from orderline.domain.errors import Forbidden

from . import claims
from .model import (
    ForumNotFound,
    ForumVersionConflict,
    Key,
    NotYourAddress,
    Page,
    PostIn,
    PostPatch,
    ThreadIn,
    ThreadPatch,
    UserIn,
    UserPatch,
    check_size,
    is_imported,
    normalize_email,
    valid_email,
    valid_id,
)
from .store import ForumStore

HIDDEN = frozenset({"bucket"})


def is_moderator(actor: Actor) -> bool:
    return Scope.FORUM_MODERATE in actor.scopes


def public(item: Item) -> Item:
    return {name: value for name, value in item.items() if name not in HIDDEN}


def user_view(actor: Actor, user: Item) -> Item:
    """A profile; the address only for its owner and moderators."""
    mine = actor.subject in (user["userId"], user.get("owner"))
    if (mine and not is_imported(actor.subject)) or is_moderator(actor):
        return dict(user)
    return {name: value for name, value in user.items() if name != "email"}


class ForumService:
    def __init__(self, store: ForumStore) -> None:
        self.store = store

    # -- users ----------------------------------------------------------------------------------

    async def register(self, actor: Actor, body: UserIn) -> Item:
        """The token's subject with the token's address; an unclaimed imported user holding
        that address is claimed in the same transaction."""
        user_id = member_id(actor)
        if not valid_id(user_id):
            raise Forbidden(
                f"the token's subject {user_id!r} cannot be a forum user id "
                "(1-64 characters of A-Z a-z 0-9 . _ : -)"
            )
        email = own_address(actor, body.email)
        user = {"userId": user_id, "name": body.name, "email": email}
        check_size("user", user)
        holder = await claims.email_holder(self.store, email)
        if holder is not None and is_imported(holder):
            return await claims.claim(self.store, user, holder)
        return await self.store.create_user(user)

    async def user(self, user_id: str) -> Item:
        found = await self.store.user(user_id) if valid_id(user_id) else None
        if found is None:
            raise ForumNotFound("user", user_id)
        return found

    async def update_user(
        self, actor: Actor, user_id: str, body: UserPatch, expected: int | None
    ) -> Item:
        current = await self._editable_user(actor, user_id, expected, moderators=False)
        changes = body.model_dump(exclude_none=True)
        if "email" in changes:
            changes["email"] = own_address(actor, changes["email"])
        check_size("user", {**current, **changes})
        return await self.store.update_user(current, changes)

    async def delete_user(self, actor: Actor, user_id: str, expected: int | None) -> None:
        """The profile and its email claim go; the user's threads and posts stay (docs)."""
        current = await self._editable_user(actor, user_id, expected, moderators=True)
        await self.store.delete_user(current)

    async def user_by_email(self, actor: Actor, email: str) -> Item:
        actor.check_scope(Scope.FORUM_MODERATE)
        found = await self.store.user_by_email(normalize_email(email))
        if found is None:
            raise ForumNotFound("user with the address", normalize_email(email))
        return found

    async def _editable_user(
        self, actor: Actor, user_id: str, expected: int | None, *, moderators: bool
    ) -> Item:
        current = await self.user(user_id)
        if not await self._owns(actor, user_id) and not (moderators and is_moderator(actor)):
            scope = Scope.FORUM_MODERATE if moderators else None
            raise Forbidden(f"user {user_id} is not you", scope)
        _check_version("user", current, expected)
        return current

    async def _owns(self, actor: Actor, user_id: str | None) -> bool:
        """Whether `user_id` is the actor: its subject, or an imported user it claimed."""
        if user_id is None or is_imported(actor.subject):
            return False
        if user_id == actor.subject:
            return True
        imported = await self.store.user(user_id) if is_imported(user_id) else None
        return imported is not None and imported.get("owner") == actor.subject

    async def _editable(self, actor: Actor, kind: str, item: Item, expected: int | None) -> Item:
        """The author or a moderator may change it, at the version they last saw."""
        if not is_moderator(actor) and not await self._owns(actor, item.get("userId")):
            raise Forbidden(
                f"only its author or a moderator may change this {kind}", Scope.FORUM_MODERATE
            )
        _check_version(kind, item, expected)
        return item

    # -- threads --------------------------------------------------------------------------------

    async def create_thread(self, actor: Actor, body: ThreadIn) -> Item:
        thread = {"threadId": str(uuid.uuid4()), "userId": member_id(actor), **body.model_dump()}
        check_size("thread", thread)
        return public(await self.store.create_thread(thread))

    async def threads(self, limit: int, after: Key | None) -> Page:
        page = await self.store.threads_page(limit, after)
        return Page([public(item) for item in page.items], page.next_key)

    async def thread(self, thread_id: str) -> Item:
        found = await self.store.thread(thread_id) if valid_id(thread_id) else None
        if found is None:
            raise ForumNotFound("thread", thread_id)
        return public(found)

    async def update_thread(
        self, actor: Actor, thread_id: str, body: ThreadPatch, expected: int | None
    ) -> Item:
        current = await self._editable(actor, "thread", await self.thread(thread_id), expected)
        changes = body.model_dump(exclude_none=True)
        check_size("thread", {**current, **changes})
        return public(await self.store.update_thread(current, changes))

    async def delete_thread(self, actor: Actor, thread_id: str, expected: int | None) -> int:
        current = await self._editable(actor, "thread", await self.thread(thread_id), expected)
        return await self.store.delete_thread(current)

    # -- posts ----------------------------------------------------------------------------------

    async def create_post(self, actor: Actor, thread_id: str, body: PostIn) -> Item:
        await self.thread(thread_id)  # 404 for a malformed or unknown thread id
        post = {
            "postId": str(uuid.uuid4()),
            "threadId": thread_id,
            "userId": member_id(actor),
            **body.model_dump(),
        }
        check_size("post", post)
        return await self.store.create_post(post)

    async def thread_posts(
        self, thread_id: str, order: Literal["asc", "desc"], limit: int, after: Key | None
    ) -> Page:
        if not valid_id(thread_id):
            raise ForumNotFound("thread", thread_id)
        page = await self.store.thread_posts(
            thread_id, ascending=order == "asc", limit=limit, after=after
        )
        if not page.items:  # posts prove their thread; an empty page asks (404 when missing)
            await self.thread(thread_id)
        return page

    async def user_posts(self, user_id: str, limit: int, after: Key | None) -> Page:
        if not valid_id(user_id):
            raise ForumNotFound("user", user_id)
        return await self.store.user_posts(user_id, limit=limit, after=after)

    async def post(self, post_id: str) -> Item:
        found = await self.store.post(post_id) if valid_id(post_id) else None
        if found is None:
            raise ForumNotFound("post", post_id)
        return found

    async def update_post(
        self, actor: Actor, post_id: str, body: PostPatch, expected: int | None
    ) -> Item:
        current = await self._editable(actor, "post", await self.post(post_id), expected)
        changes = body.model_dump(exclude_none=True)
        check_size("post", {**current, **changes})
        return await self.store.update_post(current, changes)

    async def delete_post(self, actor: Actor, post_id: str, expected: int | None) -> None:
        current = await self._editable(actor, "post", await self.post(post_id), expected)
        await self.store.delete_post(current)


def own_address(actor: Actor, claimed: str | None) -> str:
    """The token's address, normalized: a forum user's only. A different one in the body is
    refused in words that do not depend on who (if anyone) holds it."""
    if actor.email is None:
        raise Forbidden(
            "a forum user's address comes from the token, and this one carries no verified "
            "email claim"
        )
    mine = normalize_email(actor.email)
    if not valid_email(mine):
        raise Forbidden("the token's email claim is not an address the forum accepts")
    if claimed is not None and normalize_email(claimed) != mine:
        raise NotYourAddress()
    return mine


def member_id(actor: Actor) -> str:
    """The actor's forum user id: its subject, unless that is in the imported id space."""
    if is_imported(actor.subject):
        raise Forbidden(
            f"the token's subject {actor.subject!r} is in the id space of imported forum users"
        )
    return actor.subject


def _check_version(kind: str, item: dict[str, Any], expected: int | None) -> None:
    if expected is not None and expected != item["version"]:
        raise ForumVersionConflict(kind, expected, item["version"])
