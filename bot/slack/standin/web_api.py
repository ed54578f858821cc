"""A local Slack Web API double: a real HTTP server the real slack_sdk client reaches by base_url.

It records every call (method, arguments, headers), refuses what Slack would refuse (unknown
method, missing required argument per ../shared/specs/slack_web_methods.json, missing or
invalid token, the wrong kind of token, Block Kit limits), and can be told to answer a method
with an error or with HTTP 429 + Retry-After (once, or by a per-method token bucket). For
Socket Mode it hands out the URL of a `bot.slack.standin.socket_mode.SocketModeDouble`.
Given a `Workspace`, it also keeps what people would see (messages, modals, App Home) and
refuses what only that state can refuse (trigger_id, view id and hash, channels); it answers
threads (conversations.replies, cursor-paginated), conversations.info and chat.getPermalink.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.slack.standin.workspace import Message, StandinError, UploadedFile, Workspace

# Slack's OpenAPI v2 spec (slackapi/slack-api-specs, commit bc08db4, MIT licence), reduced to
# {method: {"required": [...], "params": [...]}}; a copy of ../shared/specs/slack_web_methods.json.
SPEC_PATH = Path(__file__).resolve().parent / "slack_web_methods.json"
VALID_TOKEN = "xoxb-test-token"  # noqa: S105 (the stand-in's own token, not a secret)
VALID_APP_TOKEN = "xapp-1-A0CROWD-1-test-token"  # noqa: S105 (the stand-in's own)
TEAM_ID = "T0001"
BOT_USER_ID = "UBOT"
BOT_ID = "B0001"
APP_ID = "A0CROWD"

# Methods Slack added after the 2021 spec (files.upload's replacement).
EXTRA_METHODS: dict[str, dict[str, list[str]]] = {
    "files.getUploadURLExternal": {
        "params": ["filename", "length", "alt_txt", "snippet_type"],
        "required": ["filename", "length"],
    },
    "files.completeUploadExternal": {
        "params": ["files", "channel_id", "channels", "initial_comment", "thread_ts"],
        "required": ["files"],
    },
    # Socket Mode: the WebSocket URL to connect to (needs the app-level token).
    "apps.connections.open": {"params": [], "required": []},
}
# Methods that take an app-level token (xapp-) and nothing else; all others refuse one.
APP_TOKEN_METHODS = frozenset({"apps.connections.open", "apps.event.authorizations.list"})
# Arguments the 2021 spec lists as optional that Slack refuses to go without, and its errors.
EXTRA_REQUIRED: dict[str, dict[str, str]] = {
    "users.info": {"user": "user_not_found"},
    "conversations.open": {"users": "users_list_not_supplied"},
    # Slack's docs: "The channel and ts arguments are always required".
    "conversations.replies": {"channel": "channel_not_found", "ts": "thread_not_found"},
    "conversations.info": {"channel": "channel_not_found"},
}
# Methods that read back what people wrote: answered from the Workspace (none without one).
READ_METHODS = frozenset({"conversations.replies", "conversations.info", "chat.getPermalink"})
# Methods that need some content: Slack's error when none of these arguments is given.
NEEDS_ONE_OF: dict[str, tuple[tuple[str, ...], str]] = {
    "chat.postMessage": (("text", "blocks", "attachments"), "no_text"),
    "chat.postEphemeral": (("text", "blocks", "attachments"), "no_text"),
    "chat.update": (("text", "blocks", "attachments"), "no_text"),
    "views.update": (("view_id", "external_id"), "invalid_arguments"),
}
VIEW_METHODS = {"views.open", "views.update", "views.publish", "views.push"}
MESSAGE_METHODS = {"chat.postMessage", "chat.postEphemeral", "chat.update"}

# Block Kit limits the double holds views and messages to.
MAX_TITLE = 24
MAX_MODAL_BLOCKS = 100
MAX_MESSAGE_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_PRIVATE_METADATA = 3000
MAX_INPUT_INITIAL = 3000


@dataclass(frozen=True)
class Call:
    """One recorded request: the Web API method (or `response_url:<id>`), its args, headers."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]
    status: int
    reply: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it arrived (bench/ack_bench.py)


@dataclass
class _Rule:
    method: str
    error: str | None
    retry_after: int | None
    times: int | None
    match: Callable[[dict[str, Any]], bool] | None

    def applies(self, method: str, args: dict[str, Any]) -> bool:
        if self.method != method or self.times == 0:
            return False
        return self.match is None or self.match(args)


@dataclass
class TokenBucket:
    """Slack-style per-method rate limit: `rate` calls per second, bursts up to `burst`."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = self.clock()

    def take(self) -> float:
        """Take one token; 0.0 when allowed, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class User:
    """A user the double knows: users.info answers with this."""

    id: str
    name: str
    tz: str = "UTC"
    tz_offset: int = 0
    deleted: bool = False

    def as_json(self) -> dict[str, Any]:
        """The `user` object of users.info."""
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.name,
            "deleted": self.deleted,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": self.tz_offset,
            "is_bot": False,
            "profile": {"display_name": self.name, "real_name": self.name},
        }


def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def _view_problems(view: dict[str, Any], *, max_blocks: int) -> list[str]:
    problems: list[str] = []
    title = view.get("title")
    if view.get("type") == "modal" and not isinstance(title, dict):
        problems.append("[ERROR] missing required field: title [json-pointer:/view/title]")
    if isinstance(title, dict) and len(title.get("text", "")) > MAX_TITLE:
        problems.append(
            f"[ERROR] must be less than {MAX_TITLE + 1} characters [json-pointer:/view/title/text]"
        )
    for key in ("submit", "close"):
        if isinstance(view.get(key), dict) and _text_len(view[key]) > MAX_TITLE:
            problems.append(f"[ERROR] must be less than 25 characters [json-pointer:/view/{key}]")
    meta = view.get("private_metadata", "")
    if len(meta) > MAX_PRIVATE_METADATA:
        problems.append(
            "[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]"
        )
    problems.extend(_block_problems(view.get("blocks", []), max_blocks, "/view/blocks"))
    return problems


def view_problems(view: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a modal or Home view (title, buttons, metadata, blocks)."""
    return _view_problems(view, max_blocks=MAX_MODAL_BLOCKS)


def _elements(block: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(block.get("accessory"), dict):
        yield block["accessory"]
    if isinstance(block.get("element"), dict):
        yield block["element"]
    for el in block.get("elements", []) or []:
        if isinstance(el, dict):
            yield el


def _block_problems(blocks: Any, max_blocks: int, pointer: str) -> list[str]:
    if not isinstance(blocks, list):
        return [f"[ERROR] expected an array [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"[ERROR] a block needs a type [json-pointer:{pointer}/{i}]")
            continue
        if block["type"] == "section" and _text_len(block.get("text")) > MAX_SECTION_TEXT:
            problems.append(
                f"[ERROR] must be less than 3001 characters [json-pointer:{pointer}/{i}/text/text]"
            )
        for field_ in block.get("fields", []) or []:
            if _text_len(field_) > 2000:
                problems.append(f"[ERROR] must be less than 2001 characters [{pointer}/{i}]")
        for el in _elements(block):
            if el.get("type") == "button" and _text_len(el.get("text")) > MAX_BUTTON_TEXT:
                problems.append(
                    f"[ERROR] must be less than 76 characters [json-pointer:{pointer}/{i}/button]"
                )
            if len(str(el.get("initial_value", ""))) > MAX_INPUT_INITIAL:
                problems.append(f"[ERROR] initial_value too long [json-pointer:{pointer}/{i}]")
    return problems


class SlackDouble:
    """The double's state and server; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        spec_path: Path = SPEC_PATH,
        tokens: tuple[str, ...] = (VALID_TOKEN,),
        app_tokens: tuple[str, ...] = (VALID_APP_TOKEN,),
        workspace: Workspace | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        spec = json.loads(spec_path.read_text())
        spec.update(EXTRA_METHODS)
        self.spec: dict[str, dict[str, list[str]]] = spec
        self.tokens = set(tokens)
        self.app_tokens = set(app_tokens)
        self.workspace = workspace
        self._address = (host, port)
        # What apps.connections.open answers: a SocketModeDouble's url (set by the test).
        self.socket_mode_url: Callable[[], str] | None = None
        self.calls: list[Call] = []
        self.users: dict[str, User] = {}
        # usergroups.users.list answers from this: user group id -> member user ids.
        self.usergroups: dict[str, list[str]] = {}
        self.uploads: dict[str, bytes] = {}
        self._rules: list[_Rule] = []
        self._buckets: dict[str, TokenBucket] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---
    def start(self) -> SlackDouble:
        """Serve (on an ephemeral port of 127.0.0.1 by default) in a daemon thread."""
        self._server = ThreadingHTTPServer(self._address, _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SlackDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT"""
        assert self._server is not None, "start() the double first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        """The base_url to give slack_sdk's WebClient (ends with a slash)."""
        return f"{self.root}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response_url (as in slash commands and block actions) recorded by the double."""
        return f"{self.root}/response/{name}"

    # --- configuring answers ---
    def add_user(
        self, user_id: str, name: str | None = None, *, tz: str = "UTC", tz_offset: int = 0
    ) -> User:
        """Make users.info know a user, with the time zone tests want."""
        user = User(user_id, name or user_id.lower(), tz=tz, tz_offset=tz_offset)
        self.users[user_id] = user
        return user

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        """Make usergroups.users.list know a user group and its members."""
        self.usergroups[group_id] = list(members)

    def fail(
        self,
        method: str,
        error: str,
        *,
        times: int | None = None,
        match: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Answer `method` with `{"ok": false, "error": error}` (`times` times, or always)."""
        with self._lock:
            self._rules.append(_Rule(method, error, None, times, match))

    def throttle(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> None:
        """Answer `method` with HTTP 429 and `Retry-After: retry_after` (`times` times)."""
        with self._lock:
            self._rules.append(_Rule(method, None, retry_after, times, None))

    def rate_limit(
        self, method: str, *, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> TokenBucket:
        """Hold `method` to a token bucket; calls beyond it get 429 with the wait in Retry-After."""
        bucket = TokenBucket(rate, burst, clock)
        with self._lock:
            self._buckets[method] = bucket
        return bucket

    def reset(self) -> None:
        """Forget calls, rules, buckets, users, user groups, uploads and the Socket Mode URL."""
        with self._lock:
            self.socket_mode_url = None
            self.calls.clear()
            self._rules.clear()
            self._buckets.clear()
            self.users.clear()
            self.usergroups.clear()
            self.uploads.clear()

    # --- assertions ---
    def calls_to(self, method: str, *, ok_only: bool = False) -> list[Call]:
        """Recorded calls of one method (only those answered ok when `ok_only`)."""
        with self._lock:
            calls = [c for c in self.calls if c.method == method]
        return [c for c in calls if c.reply.get("ok")] if ok_only else calls

    def wait_for(self, method: str, count: int = 1, *, timeout: float = 10.0) -> list[Call]:
        """Block until `method` was called `count` times (the app works after its ack).

        Woken by each recorded call, not by polling; the timeout only bounds a broken test.
        """
        with self._lock:
            done = self._lock.wait_for(
                lambda: sum(c.method == method for c in self.calls) >= count, timeout=timeout
            )
            calls = [c for c in self.calls if c.method == method]
        assert done, f"expected {count} {method} call(s), got {len(calls)}: {self.methods()}"
        return calls

    def last(self, method: str) -> Call:
        """The most recent call of `method`, answered ok."""
        calls = self.calls_to(method, ok_only=True)
        assert calls, f"no successful {method} call; methods called: {self.methods()}"
        return calls[-1]

    def methods(self) -> list[str]:
        """Methods called, in order."""
        with self._lock:
            return [c.method for c in self.calls]

    def posted_texts(self) -> list[str]:
        """Every text (and block text) the app sent anywhere, for the escape rule."""
        out: list[str] = []
        with self._lock:
            calls = list(self.calls)
        for c in calls:
            out.extend(_all_strings(c.args))
        return out

    # --- answering (called by the HTTP handler) ---
    def answer(
        self, method: str, args: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, extra headers and JSON body for one Web API call; records it."""
        status, extra, body = self._answer(method, args, headers)
        with self._lock:
            self.calls.append(Call(method, args, headers, status, body))
            self._lock.notify_all()
        return status, extra, body

    def _answer(
        self, method: str, args: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if method not in self.spec:
            return 200, {}, {"ok": False, "error": "unknown_method", "req_method": method}
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth else str(args.get("token", ""))
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token not in self.tokens | self.app_tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if (token in self.app_tokens) != (method in APP_TOKEN_METHODS):
            return 200, {}, {"ok": False, "error": "not_allowed_token_type"}
        missing = [p for p in self.spec[method]["required"] if p != "token" and p not in args]
        if missing:
            return 200, {}, {"ok": False, "error": "invalid_arguments", "missing": missing}
        for arg, error in EXTRA_REQUIRED.get(method, {}).items():
            if arg not in args and not (method == "conversations.open" and "channel" in args):
                return 200, {}, {"ok": False, "error": error}
        if method in NEEDS_ONE_OF:
            names, error = NEEDS_ONE_OF[method]
            if not any(args.get(n) for n in names):
                return 200, {}, {"ok": False, "error": error}
        with self._lock:
            bucket = self._buckets.get(method)
            wait = bucket.take() if bucket else 0.0
            rule = (
                None
                if wait > 0
                else next((r for r in self._rules if r.applies(method, args)), None)
            )
            if rule is not None and rule.times is not None:
                rule.times -= 1
        if wait > 0:
            return 429, {"Retry-After": str(math.ceil(wait))}, {"ok": False, "error": "ratelimited"}
        if rule is not None:
            if rule.retry_after is not None:
                return (
                    429,
                    {"Retry-After": str(rule.retry_after)},
                    {"ok": False, "error": "ratelimited"},
                )
            return 200, {}, {"ok": False, "error": rule.error}
        problems = self._limits(method, args)
        if problems:
            return (
                200,
                {},
                {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": problems},
                },
            )
        if self.workspace is not None:
            try:
                kept = self._keep(self.workspace, method, args)
            except StandinError as exc:
                return 200, {}, {"ok": False, "error": exc.error}
            if kept is not None:
                return 200, {}, kept
        return 200, {}, self._result(method, args)

    def _keep(self, ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
        """The answer of a method that changes what people see (None: not one of those)."""
        blocks = _json_arg(args.get("blocks")) or []
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ephemeral = str(args["user"]) if method == "chat.postEphemeral" else None
            msg = ws.post_message({**args, "blocks": blocks}, visible_to=ephemeral)
            if ephemeral:
                return {"ok": True, "message_ts": msg.ts}
            channel = ws.dm_id(args["channel"]) if args["channel"][0] in "UW" else args["channel"]
            as_json = {"text": msg.text, "ts": msg.ts, "blocks": blocks, "user": msg.user}
            return {"ok": True, "channel": channel, "ts": msg.ts, "message": as_json}
        if method == "chat.update":
            ws.update_message({**args, "blocks": blocks})
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "conversations.open":
            users = str(args.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": ws.dm_id(users[0].strip()), "is_im": True}}
        if method in VIEW_METHODS:
            view = dict(_json_arg(args["view"]))
            if method == "views.open":
                opened = ws.open_view(str(args["trigger_id"]), view)
            elif method == "views.push":
                opened = ws.push_view(str(args["trigger_id"]), view)
            elif method == "views.update":
                opened = ws.update_view(
                    view,
                    view_id=args.get("view_id"),
                    external_id=args.get("external_id"),
                    hash_=args.get("hash"),
                )
            else:
                opened = ws.publish_home(str(args["user_id"]), view)
            return {"ok": True, "view": opened.as_json(TEAM_ID, APP_ID, BOT_ID)}
        if method in READ_METHODS:
            return _read(ws, method, args)
        if method == "files.completeUploadExternal":
            files = _json_arg(args["files"])
            if not isinstance(files, list) or not files:
                return {"ok": False, "error": "invalid_arguments"}
            with self._lock:
                if any(f.get("id") not in self.uploads for f in files):
                    return {"ok": False, "error": "file_not_found"}
                shared = [
                    UploadedFile(
                        f["id"],
                        str(f.get("title") or f["id"]),
                        str(f.get("title") or ""),
                        self.uploads[f["id"]],
                    )
                    for f in files
                ]
            channel = args.get("channel_id") or args.get("channels")
            ws.share_files(shared, str(channel) if channel else None, args.get("initial_comment"))
            return {"ok": True, "files": [{"id": f.id, "title": f.title} for f in shared]}
        return None

    def _limits(self, method: str, args: dict[str, Any]) -> list[str]:
        if method in VIEW_METHODS:
            view = _json_arg(args.get("view"))
            if not isinstance(view, dict):
                return ["[ERROR] view must be a JSON object [json-pointer:/view]"]
            max_blocks = MAX_MODAL_BLOCKS
            return _view_problems(view, max_blocks=max_blocks)
        if method in MESSAGE_METHODS and "blocks" in args:
            return _block_problems(_json_arg(args["blocks"]), MAX_MESSAGE_BLOCKS, "/blocks")
        return []

    def _result(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        n = next(self._serial)
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://acme.slack.com/",
                "team": "Acme",
                "user": "crowdtune",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + n}.{n:06d}"
            msg = {"text": args.get("text", ""), "ts": ts, "blocks": _json_arg(args.get("blocks"))}
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": msg}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{1_700_000_000 + n}.{n:06d}"}
        if method == "chat.update":
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "conversations.open":
            users = str(args.get("users", "")).split(",")
            return {"ok": True, "channel": {"id": "D" + users[0].strip(), "is_im": True}}
        if method == "users.info":
            user = self.users.get(str(args["user"]))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": user.as_json()}
        if method in READ_METHODS:
            # No workspace: the double knows no channel.
            return {"ok": False, "error": "channel_not_found"}
        if method == "usergroups.users.list":
            members = self.usergroups.get(str(args["usergroup"]))
            if members is None:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(members)}
        if method in VIEW_METHODS:
            view = dict(_json_arg(args["view"]))
            view.update({"id": f"V{n:08d}", "team_id": TEAM_ID, "hash": f"h{n}"})
            return {"ok": True, "view": view}
        if method == "files.getUploadURLExternal":
            file_id = f"F{n:08d}"
            self.uploads.setdefault(file_id, b"")
            return {"ok": True, "upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}
        if method == "apps.connections.open":
            if self.socket_mode_url is None:
                # Not Slack's answer: the double's own, naming the missing test set-up.
                return {"ok": False, "error": "double_has_no_socket_mode_url"}
            return {"ok": True, "url": self.socket_mode_url()}
        if method == "files.completeUploadExternal":
            files = _json_arg(args["files"])
            if not isinstance(files, list) or not files:
                return {"ok": False, "error": "invalid_arguments"}
            unknown = [f.get("id") for f in files if f.get("id") not in self.uploads]
            if unknown:
                return {"ok": False, "error": "file_not_found"}
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": True}

    def receive_upload(self, file_id: str, body: bytes) -> bool:
        """Store the bytes sent to an upload URL; False for a URL the double never gave."""
        with self._lock:
            if file_id not in self.uploads:
                return False
            self.uploads[file_id] = body
            return True

    def record_response_url(
        self, name: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> int:
        """Record a post to a response_url; the HTTP status Slack would answer."""
        status, reply = 200, dict[str, Any](ok=True)
        if self.workspace is not None:
            try:
                self.workspace.respond(name, payload)
            except StandinError as exc:
                status, reply = 404, {"ok": False, "error": exc.error}
        with self._lock:
            self.calls.append(Call(f"response_url:{name}", payload, headers, status, reply))
            self._lock.notify_all()
        return status


def _limit(value: Any) -> int | None:
    try:
        return max(1, int(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def message_json(msg: Message, bot_user: str) -> dict[str, Any]:
    """A message as conversations.replies lists it (the bot's with its bot_id)."""
    out: dict[str, Any] = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts}
    if msg.thread_ts:
        out["thread_ts"] = msg.thread_ts
    if msg.user == bot_user:
        out.update({"bot_id": BOT_ID, "app_id": APP_ID})
    if msg.blocks:
        out["blocks"] = msg.blocks
    return out


def _read(ws: Workspace, method: str, args: dict[str, Any]) -> dict[str, Any]:
    """conversations.replies (one page and its cursor), conversations.info, chat.getPermalink."""
    channel = str(args["channel"])
    if method == "conversations.info":
        return {"ok": True, "channel": ws.channel_info(channel)}
    if method == "chat.getPermalink":
        return {
            "ok": True,
            "channel": channel,
            "permalink": ws.permalink(channel, str(args["message_ts"])),
        }
    page, cursor = ws.replies(
        channel, str(args["ts"]), cursor=args.get("cursor") or None, limit=_limit(args.get("limit"))
    )
    return {
        "ok": True,
        "messages": [message_json(m, ws.bot_user) for m in page],
        "has_more": cursor is not None,
        "response_metadata": {"next_cursor": cursor or ""},
    }


def _json_arg(value: Any) -> Any:
    # slack_sdk sends blocks/views as JSON strings in forms and as objects in JSON bodies.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _all_strings(value: Any) -> Iterator[str]:
    value = _json_arg(value)
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_strings(v)


def _make_handler(double: SlackDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            return

        def _args(self) -> dict[str, Any]:
            parts = urlsplit(self.path)
            args: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            self._raw = raw
            ctype = self.headers.get("Content-Type", "")
            if parts.path.startswith("/upload/"):
                # File bytes (slack_sdk posts them with urllib's default form content type).
                return args
            if raw and ctype.startswith("application/json"):
                body = json.loads(raw.decode("utf-8"))
                if isinstance(body, dict):
                    args.update(body)
            elif raw and ctype.startswith("application/x-www-form-urlencoded"):
                args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            return args

        def _send(self, status: int, body: dict[str, Any], extra: dict[str, str]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            path = urlsplit(self.path).path
            args = self._args()
            headers = {k.lower(): v for k, v in self.headers.items()}
            if path.startswith("/api/"):
                status, extra, body = double.answer(path[len("/api/") :], args, headers)
                self._send(status, body, extra)
            elif path.startswith("/response/"):
                status = double.record_response_url(path[len("/response/") :], args, headers)
                self._send(status, {"ok": status == 200}, {})
            elif path.startswith("/upload/"):
                ok = double.receive_upload(path[len("/upload/") :], self._raw)
                self._send(200 if ok else 404, {"ok": ok}, {})
            else:
                self._send(404, {"ok": False, "error": "not_found"}, {})

        do_GET = _handle  # noqa: N815 (http.server names)
        do_POST = _handle  # noqa: N815

    return Handler
