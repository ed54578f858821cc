"""What people see in the stand-in's workspace: channels, DMs, ephemerals, modals, App Home.

`SlackDouble(workspace=Workspace(...))` keeps this state from the app's Web API calls and its
response_url posts, and refuses what only state can refuse: an unknown, expired or reused
`trigger_id`, a view that is not open, a stale `hash`, a fourth pushed view, a channel that
does not exist. It also answers what the app reads back: threads (`conversations.replies`,
paginated by cursor), permalinks and channel info, refusing what Slack refuses to a bot (a
public channel it is not in, a private channel or DM it cannot see). The sandbox's page reads
it and turns a person's clicks into payloads.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TRIGGER_TTL = 3.0  # seconds a trigger_id can open a modal (Slack's documented limit)
RESPONSE_URL_TTL = 30 * 60.0  # a response_url works for 30 minutes…
RESPONSE_URL_USES = 5  # …and up to 5 times
MAX_VIEW_STACK = 3  # views.push refuses a fourth view
MAX_REPLIES_LIMIT = 1000  # conversations.replies' largest page (Tier 3 apps)
DEFAULT_REPLIES_LIMIT = 1000
PERMALINK_ROOT = "https://acme.slack.com/archives"


class StandinError(Exception):
    """A call Slack would refuse; `error` is Slack's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class Message:
    """One message in a conversation (the bot's or a person's)."""

    ts: str
    user: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    visible_to: str | None = None  # ephemeral: only this person sees it
    files: list[str] = field(default_factory=list)
    edited: bool = False
    posted: float = field(default_factory=time.time)  # wall clock, for the time shown
    thread_ts: str | None = None  # the parent's ts, for a reply (and the parent of a thread)


@dataclass
class Channel:
    """A channel or a person's DM with the bot."""

    id: str
    name: str
    is_im: bool = False
    messages: list[Message] = field(default_factory=list)
    is_private: bool = False
    # Who is in the channel; Slack refuses to show a bot a channel's threads it is not in.
    members: set[str] = field(default_factory=set)


@dataclass
class OpenView:
    """A modal in a person's stack, or their App Home."""

    id: str
    hash: str
    view: dict[str, Any]
    user: str
    root_id: str
    previous_id: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def as_json(self, team_id: str, app_id: str, bot_id: str) -> dict[str, Any]:
        """The view object Slack returns and puts in payloads."""
        out = dict(self.view)
        out.update(
            {
                "id": self.id,
                "hash": self.hash,
                "team_id": team_id,
                "app_id": app_id,
                "bot_id": bot_id,
                "root_view_id": self.root_id,
                "previous_view_id": self.previous_id,
            }
        )
        out.setdefault("private_metadata", "")
        out.setdefault("callback_id", "")
        return out


@dataclass
class _Trigger:
    user: str
    issued: float
    used: bool = False


@dataclass
class ResponseTarget:
    """Where a response_url's posts go: a person, a channel and maybe the message clicked."""

    user: str
    channel: str
    message_ts: str | None
    issued: float
    uses: int = 0


@dataclass(frozen=True)
class UploadedFile:
    """A file shared by files.completeUploadExternal."""

    id: str
    name: str
    title: str
    data: bytes


class Workspace:
    """The workspace's state, safe to share between the Web API thread and the page."""

    def __init__(
        self,
        *,
        bot_user: str,
        channels: dict[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bot_user = bot_user
        self.clock = clock
        # Channels given here have the bot in them (the sandbox's); add_channel for others.
        self.channels: dict[str, Channel] = {
            cid: Channel(cid, name, members={bot_user}) for cid, name in (channels or {}).items()
        }
        self.modals: dict[str, list[OpenView]] = {}
        self.homes: dict[str, OpenView] = {}
        self.files: dict[str, UploadedFile] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._responses: dict[str, ResponseTarget] = {}
        self._serial = itertools.count(1)
        self.version = 0
        self.changed = threading.Condition()

    # --- bookkeeping ---
    def _bump(self) -> None:
        # Callers hold self.changed; waiting pages wake up and re-read.
        self.version += 1
        self.changed.notify_all()

    def wait_for_change(self, since: int, timeout: float) -> int:
        """Block until the version moves past `since` (or `timeout`); the current version."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != since, timeout=timeout)
            return self.version

    def _ts(self) -> str:
        n = next(self._serial)
        return f"{1_700_000_000 + n}.{n:06d}"

    def dm_id(self, user: str) -> str:
        """The id of a person's DM with the bot (created on first use)."""
        cid = "D" + user
        with self.changed:
            if cid not in self.channels:
                self.channels[cid] = Channel(cid, user, is_im=True, members={user, self.bot_user})
        return cid

    def _channel(self, channel: str) -> Channel:
        if channel.startswith(("U", "W")):
            channel = self.dm_id(channel)  # posting to a user id posts in their DM
        found = self.channels.get(channel)
        if found is None:
            raise StandinError("channel_not_found")
        return found

    # --- what the page issues with each payload ---
    def issue_trigger(self, user: str) -> str:
        """A fresh trigger_id for an interaction by `user`."""
        with self.changed:
            tid = f"{next(self._serial)}.{int(self.clock() * 1000)}.sandbox"
            self._triggers[tid] = _Trigger(user, self.clock())
            return tid

    def issue_response_url(self, name: str, user: str, channel: str, ts: str | None) -> None:
        """Register response_url `name` for a person's command (ts None) or click in message ts."""
        with self.changed:
            self._responses[name] = ResponseTarget(user, channel, ts, self.clock())

    def _take_trigger(self, trigger_id: str) -> str:
        trig = self._triggers.get(trigger_id)
        if trig is None:
            raise StandinError("invalid_trigger_id")
        if trig.used:
            raise StandinError("exchanged_trigger_id")
        if self.clock() - trig.issued > TRIGGER_TTL:
            raise StandinError("expired_trigger_id")
        trig.used = True
        return trig.user

    # --- Web API methods (called by SlackDouble with the checked arguments) ---
    def post_message(self, args: dict[str, Any], *, visible_to: str | None = None) -> Message:
        """chat.postMessage / chat.postEphemeral."""
        with self.changed:
            chan = self._channel(str(args["channel"]))
            msg = Message(
                self._ts(),
                self.bot_user,
                str(args.get("text") or ""),
                list(args.get("blocks") or []),
                visible_to=visible_to,
            )
            chan.messages.append(msg)
            self._bump()
            return msg

    def update_message(self, args: dict[str, Any]) -> None:
        """chat.update: only the bot's own messages."""
        with self.changed:
            chan = self._channel(str(args["channel"]))
            msg = next((m for m in chan.messages if m.ts == args["ts"]), None)
            if msg is None:
                raise StandinError("message_not_found")
            if msg.user != self.bot_user:
                raise StandinError("cant_update_message")
            msg.text = str(args.get("text") or "")
            msg.blocks = list(args.get("blocks") or [])
            msg.edited = True
            self._bump()

    def add_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None
    ) -> Message:
        """A message a person typed (the page's composer); `thread_ts`: a reply in that thread."""
        with self.changed:
            chan = self._channel(channel)
            msg = Message(self._ts(), user, text, thread_ts=thread_ts)
            if thread_ts is not None:
                parent = next((m for m in chan.messages if m.ts == thread_ts), None)
                if parent is None:
                    raise StandinError("thread_not_found")
                parent.thread_ts = thread_ts
            chan.messages.append(msg)
            self._bump()
            return msg

    def add_channel(
        self,
        cid: str,
        name: str,
        *,
        private: bool = False,
        im: bool = False,
        members: set[str] | None = None,
    ) -> Channel:
        """A channel (`im`: a DM between people) with these members (the bot only when listed)."""
        with self.changed:
            chan = Channel(cid, name, is_im=im, is_private=private, members=set(members or ()))
            self.channels[cid] = chan
            self._bump()
            return chan

    # --- what the app reads back ---
    def _readable(self, channel: str) -> Channel:
        """The channel if the bot may read it: a private channel or DM it is not in does not
        exist for it, a public one it is not in is `not_in_channel`."""
        chan = self.channels.get(channel)
        if chan is None:
            raise StandinError("channel_not_found")
        if self.bot_user not in chan.members:
            hidden = chan.is_private or chan.is_im
            raise StandinError("channel_not_found" if hidden else "not_in_channel")
        return chan

    def channel_info(self, channel: str) -> dict[str, Any]:
        """conversations.info's `channel` object."""
        with self.changed:
            chan = self.channels.get(channel)
            member = chan is not None and self.bot_user in chan.members
            if chan is None or ((chan.is_private or chan.is_im) and not member):
                raise StandinError("channel_not_found")
            return {
                "id": chan.id,
                "name": chan.name,
                "is_channel": not chan.is_im and not chan.is_private,
                "is_group": chan.is_private,
                "is_im": chan.is_im,
                "is_mpim": False,
                "is_private": chan.is_private or chan.is_im,
                "is_member": member,
                "is_archived": False,
            }

    def replies(
        self, channel: str, ts: str, *, cursor: str | None, limit: int | None
    ) -> tuple[list[Message], str | None]:
        """conversations.replies: a page of the thread of `ts` (parent first) and the next
        cursor (None on the last page). The ts of a reply gives that message alone."""
        with self.changed:
            chan = self._readable(channel)
            found = next((m for m in chan.messages if m.ts == ts and m.visible_to is None), None)
            if found is None:
                raise StandinError("thread_not_found")
            if found.thread_ts == found.ts:
                thread = [m for m in chan.messages if m.thread_ts == ts and m.visible_to is None]
                thread.sort(key=lambda m: float(m.ts))
            else:
                thread = [found]
            start = _cursor_offset(cursor)
            if start > len(thread):
                raise StandinError("invalid_cursor")
            size = min(limit or DEFAULT_REPLIES_LIMIT, MAX_REPLIES_LIMIT)
            page = thread[start : start + size]
            more = start + size < len(thread)
            return page, (_cursor(start + size) if more else None)

    def permalink(self, channel: str, ts: str) -> str:
        """chat.getPermalink: a message's link (a reply's names its thread)."""
        with self.changed:
            chan = self.channels.get(channel)
            if chan is None:
                raise StandinError("channel_not_found")
            msg = next((m for m in chan.messages if m.ts == ts), None)
            if msg is None:
                raise StandinError("message_not_found")
            link = f"{PERMALINK_ROOT}/{chan.id}/p{ts.replace('.', '')}"
            if msg.thread_ts and msg.thread_ts != msg.ts:
                link += f"?thread_ts={msg.thread_ts}&cid={chan.id}"
            return link

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> OpenView:
        """views.open: a new modal stack for the person whose trigger this is."""
        with self.changed:
            user = self._take_trigger(trigger_id)
            opened = self._new_view(view, user, root=None, previous=None)
            self.modals[user] = [opened]
            self._bump()
            return opened

    def push_view(self, trigger_id: str, view: dict[str, Any]) -> OpenView:
        """views.push: on top of the person's open modal."""
        with self.changed:
            user = self._take_trigger(trigger_id)
            return self._push(user, view)

    def _push(self, user: str, view: dict[str, Any]) -> OpenView:
        stack = self.modals.get(user) or []
        if not stack:
            raise StandinError("not_found")
        if len(stack) >= MAX_VIEW_STACK:
            raise StandinError("push_limit_reached")
        opened = self._new_view(view, user, root=stack[0].id, previous=stack[-1].id)
        stack.append(opened)
        self._bump()
        return opened

    def update_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None,
        external_id: str | None,
        hash_: str | None,
    ) -> OpenView:
        """views.update: replace an open view (refused when `hash_` is stale)."""
        with self.changed:
            found = self._find_view(view_id, external_id)
            if found is None:
                raise StandinError("not_found")
            if hash_ and hash_ != found.hash:
                raise StandinError("hash_conflict")
            self._replace(found, view)
            self._bump()
            return found

    def publish_home(self, user: str, view: dict[str, Any]) -> OpenView:
        """views.publish: the person's App Home."""
        with self.changed:
            home = self.homes.get(user)
            if home is None:
                home = self._new_view(view, user, root=None, previous=None)
                self.homes[user] = home
            else:
                self._replace(home, view)
            self._bump()
            return home

    def share_files(
        self, files: list[UploadedFile], channel: str | None, comment: str | None
    ) -> None:
        """files.completeUploadExternal: the files, and a message in `channel` when given."""
        with self.changed:
            for f in files:
                self.files[f.id] = f
            if channel:
                chan = self._channel(channel)
                chan.messages.append(
                    Message(self._ts(), self.bot_user, comment or "", files=[f.id for f in files])
                )
            self._bump()

    def respond(self, name: str, payload: dict[str, Any]) -> None:
        """A post to a response_url: replace or delete the clicked message, or add one."""
        with self.changed:
            target = self._responses.get(name)
            if target is None:
                raise StandinError("no_active_hooks")
            if self.clock() - target.issued > RESPONSE_URL_TTL:
                raise StandinError("expired_url")
            if target.uses >= RESPONSE_URL_USES:
                raise StandinError("used_url")
            target.uses += 1
            chan = self._channel(target.channel)
            original = next((m for m in chan.messages if m.ts == target.message_ts), None)
            text = str(payload.get("text") or "")
            blocks = list(payload.get("blocks") or [])
            if original is not None and _true(payload.get("delete_original")):
                chan.messages.remove(original)
            elif original is not None and _true(payload.get("replace_original")):
                original.text, original.blocks, original.edited = text, blocks, True
            else:
                in_channel = payload.get("response_type") == "in_channel"
                visible = None if in_channel else target.user
                chan.messages.append(
                    Message(self._ts(), self.bot_user, text, blocks, visible_to=visible)
                )
            self._bump()

    # --- what the page does with a view_submission's ack ---
    def after_submission(self, user: str, view_id: str, ack: dict[str, Any] | None) -> None:
        """Apply the app's answer to a submission: errors, update, push, clear, or close."""
        with self.changed:
            stack = self.modals.get(user) or []
            current = next((v for v in stack if v.id == view_id), None)
            if current is None:
                return
            action = (ack or {}).get("response_action")
            if action == "errors":
                current.errors = dict((ack or {}).get("errors") or {})
            elif action == "update":
                self._replace(current, dict((ack or {})["view"]))
            elif action == "push":
                self._push(user, dict((ack or {})["view"]))
            elif action == "clear":
                self.modals.pop(user, None)
            else:
                self._close(user, view_id)
            self._bump()

    def close_view(self, user: str, view_id: str) -> None:
        """The person closed a view (Cancel or ×): it and the views above it go."""
        with self.changed:
            self._close(user, view_id)
            self._bump()

    def _close(self, user: str, view_id: str) -> None:
        stack = self.modals.get(user) or []
        keep = []
        for v in stack:
            if v.id == view_id:
                break
            keep.append(v)
        if keep:
            self.modals[user] = keep
        else:
            self.modals.pop(user, None)

    # --- helpers ---
    def _new_view(
        self, view: dict[str, Any], user: str, *, root: str | None, previous: str | None
    ) -> OpenView:
        n = next(self._serial)
        vid = f"V{n:08d}"
        return OpenView(vid, f"{n}.h{n}", dict(view), user, root or vid, previous)

    def _replace(self, found: OpenView, view: dict[str, Any]) -> None:
        n = next(self._serial)
        found.view, found.hash, found.errors = dict(view), f"{n}.h{n}", {}

    def _find_view(self, view_id: str | None, external_id: str | None) -> OpenView | None:
        views = [v for stack in self.modals.values() for v in stack] + list(self.homes.values())
        for v in views:
            if (view_id and v.id == view_id) or (
                external_id and v.view.get("external_id") == external_id
            ):
                return v
        return None

    def top_modal(self, user: str) -> OpenView | None:
        """The modal a person sees now (the top of their stack), if any."""
        with self.changed:
            stack = self.modals.get(user) or []
            return stack[-1] if stack else None

    def visible_messages(self, channel: str, user: str) -> list[Message]:
        """A conversation as `user` sees it: everyone's messages and their own ephemerals."""
        with self.changed:
            chan = self._channel(channel)
            return [m for m in chan.messages if m.visible_to in (None, user)]


def _cursor(offset: int) -> str:
    # Opaque to the app, like Slack's: base64 of the next message's position.
    return base64.b64encode(f"next:{offset}".encode()).decode()


def _cursor_offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise StandinError("invalid_cursor") from exc
    head, _, number = text.partition(":")
    if head != "next" or not number.isdigit():
        raise StandinError("invalid_cursor")
    return int(number)


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
