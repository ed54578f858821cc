"""The sandbox's web page: who you are, your conversations, App Home and modals, as HTML.

`GET /` is the page; its script long-polls `GET /sandbox/state` (answered when the workspace
changes) and sends what the person does to `POST /sandbox/…`, which `Player` turns into the
requests Slack would send. Everything is drawn from the Block Kit the app sent.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from bot.sandbox.blockkit import Render, blocks_html
from bot.sandbox.jobs import JobRunner
from bot.sandbox.mrkdwn import mrkdwn_html, plain_html
from bot.sandbox.people import CHANNELS, Person
from bot.sandbox.play import Player, PlayError, Where
from bot.slack.standin.workspace import Message, OpenView, StandinError, Workspace

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

APP_NAME = "crowdtune"
HOME = "home"  # the `channel` of the app's Home tab
POLL_SECONDS = 20.0
STATIC = {"/static/page.js": "text/javascript", "/static/page.css": "text/css"}


def _local_time(ts: float, tz: str) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(ZoneInfo(tz)).strftime("%H:%M")


class Page:
    """The page's WSGI application over one workspace and one player."""

    def __init__(
        self,
        workspace: Workspace,
        player: Player,
        people: Mapping[str, Person],
        jobs: JobRunner,
        *,
        workspace_name: str = "Acme (sandbox)",
    ) -> None:
        self.ws = workspace
        self.player = player
        self.people = people
        self.jobs = jobs
        self.workspace_name = workspace_name
        self.names = {p.id: p.name for p in people.values()}
        self.names[workspace.bot_user] = APP_NAME

    # --- rendering ---
    def _message_html(self, m: Message, viewer: Person, *, tools: bool = False) -> str:
        person = self.people.get(m.user)
        bot = m.user == self.ws.bot_user
        name = APP_NAME if bot else (person.name if person else m.user)
        initials = "ct" if bot else (person.initials if person else "?")
        colour = "#4a154b" if bot else (person.colour if person else "#888")
        badge = '<span class="app-badge">APP</span>' if bot else ""
        render = Render(names=self.names)
        if m.blocks:
            content = blocks_html(m.blocks, render)
        elif bot:
            content = f'<div class="bk-text">{mrkdwn_html(m.text, self.names)}</div>'
        else:
            content = f'<div class="bk-text">{plain_html(m.text)}</div>'
        for fid in m.files:
            f = self.ws.files.get(fid)
            title = html.escape(f.title if f else fid)
            content += (
                f'<figure class="file"><figcaption>{title}</figcaption>'
                f'<img src="/sandbox/files/{html.escape(fid)}" alt="{title}"></figure>'
            )
        note = (
            '<div class="ephemeral-note">👁 Only visible to you</div>'
            if m.visible_to is not None
            else ""
        )
        edited = ' <span class="edited">(edited)</span>' if m.edited else ""
        cls = "msg ephemeral" if m.visible_to is not None else "msg"
        reply = m.thread_ts is not None and m.thread_ts != m.ts
        if reply:
            cls += " reply"
        if tools and m.visible_to is None and not bot:
            # What Slack offers on hover: the message shortcut, and a reply in the thread.
            note += (
                '<div class="msg-tools">'
                '<button class="msg-tool" data-shortcut="1">⋯ Save as training example</button>'
                f'<button class="msg-tool" data-reply="{html.escape(m.thread_ts or m.ts)}">'
                "Reply in thread</button></div>"
            )
        return (
            f'<div class="{cls}" data-ts="{html.escape(m.ts)}">'
            f'<div class="avatar" style="background:{colour}">{html.escape(initials)}</div>'
            f'<div class="msg-body"><div class="msg-head"><span class="msg-author">'
            f"{html.escape(name)}</span>{badge}"
            f'<span class="msg-time">{_local_time(m.posted, viewer.tz)}</span></div>'
            f'<div class="msg-content">{content}{edited}</div>{note}</div></div>'
        )

    def conversation_html(self, channel: str, viewer: Person) -> str:
        """Every message of a conversation that `viewer` may see."""
        msgs = self.ws.visible_messages(channel, viewer.id)
        if not msgs:
            return '<div class="empty">No messages yet.</div>'
        chan = self.ws.channels.get(channel)
        tools = chan is not None and not chan.is_im
        return "".join(self._message_html(m, viewer, tools=tools) for m in _threaded(msgs))

    def home_html(self, viewer: Person) -> str:
        """The person's App Home, as the app last published it."""
        home = self.ws.homes.get(viewer.id)
        if home is None:
            return '<div class="empty">Loading App Home…</div>'
        body = blocks_html(list(home.view.get("blocks") or []), Render(names=self.names))
        return f'<div class="home" data-view-id="{html.escape(home.id)}">{body}</div>'

    def modal_html(self, view: OpenView) -> str:
        """The modal a person sees: title, blocks (errors on their fields), Cancel, Submit."""
        v = view.view
        render = Render(names=self.names, errors=view.errors)
        title = plain_html(str((v.get("title") or {}).get("text") or ""))
        close = plain_html(str((v.get("close") or {}).get("text") or "Cancel"))
        submit = v.get("submit")
        submit_html = (
            f'<button type="submit" class="btn-submit">'
            f"{plain_html(str(submit.get('text') or 'Submit'))}</button>"
            if isinstance(submit, dict)
            else ""
        )
        return (
            f'<form class="modal" data-view-id="{html.escape(view.id)}" '
            f'data-hash="{html.escape(view.hash)}" novalidate>'
            f'<div class="modal-head"><span class="modal-app">ct</span>'
            f'<span class="modal-title">{title}</span>'
            f'<button type="button" class="modal-x" data-close aria-label="Close">×</button></div>'
            f'<div class="modal-body">{blocks_html(list(v.get("blocks") or []), render)}</div>'
            f'<div class="modal-foot"><button type="button" class="btn-cancel" data-close>'
            f"{close}</button>{submit_html}</div></form>"
        )

    def state(self, user: str, channel: str, since: int) -> dict[str, Any]:
        """Everything the page shows for `user` looking at `channel`, once it changed."""
        version = self.ws.wait_for_change(since, POLL_SECONDS) if since >= 0 else self.ws.version
        viewer = self.people[user]
        dm = self.ws.dm_id(user)
        main = (
            self.home_html(viewer)
            if channel == HOME
            else self.conversation_html(
                dm if channel == dm or channel not in self.ws.channels else channel, viewer
            )
        )
        modal = self.ws.top_modal(user)
        now = datetime.now(UTC).timestamp()
        return {
            "version": version,
            "workspace": self.workspace_name,
            "me": user,
            "dm": dm,
            "people": [
                {
                    "id": p.id,
                    "name": p.name,
                    "tz": p.tz,
                    "local": _local_time(now, p.tz),
                }
                for p in self.people.values()
            ],
            "channels": [{"id": cid, "name": name} for cid, name in CHANNELS.items()],
            "main": main,
            "modal": None
            if modal is None
            else {"id": modal.id, "hash": modal.hash, "html": self.modal_html(modal)},
            "jobs": [
                {"name": b.name, "label": b.label, "unavailable": b.unavailable}
                for b in self.jobs.buttons()
            ],
        }

    # --- actions ---
    def act(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One POST from the page: do it, answer what happened."""
        user = str(body.get("user") or "")
        if user not in self.people:
            raise PlayError("pick who you are first")
        typed = {str(k): [str(x) for x in v] for k, v in (body.get("typed") or {}).items()}
        if path == "/sandbox/command":
            channel = str(body.get("channel") or self.ws.dm_id(user))
            text = str(body.get("text") or "").strip()
            if text.split(" ", 1)[0] == "/crowdtune":
                self.player.command(user, channel, text.removeprefix("/crowdtune").strip())
            elif text.startswith("/"):
                raise PlayError(f"{text.split(' ', 1)[0]} is not a command of this workspace")
            elif text:
                thread = body.get("thread_ts")
                self.player.say(user, channel, text, thread_ts=str(thread) if thread else None)
        elif path == "/sandbox/action":
            where = Where(
                channel=body.get("channel"), ts=body.get("ts"), view_id=body.get("view_id")
            )
            self.player.click(user, where, str(body["block_id"]), str(body["action_id"]), typed)
        elif path == "/sandbox/shortcut":
            self.player.shortcut(user, str(body["channel"]), str(body["ts"]))
        elif path == "/sandbox/submit":
            self.player.submit(user, str(body["view_id"]), typed)
        elif path == "/sandbox/close":
            self.player.close(user, str(body["view_id"]))
        elif path == "/sandbox/home":
            self.player.open_home(user)
        elif path == "/sandbox/job":
            return self.jobs.run(str(body.get("name")))
        else:
            raise PlayError(f"unknown action {path}")
        return {"ok": True}

    # --- WSGI ---
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO") or "/")
        method = str(environ.get("REQUEST_METHOD") or "GET")
        try:
            if method == "GET" and path == "/":
                return _send(
                    start_response, "200 OK", "text/html; charset=utf-8", _static("page.html")
                )
            if method == "GET" and path in STATIC:
                name = path.rsplit("/", 1)[1]
                return _send(start_response, "200 OK", STATIC[path], _static(name))
            if method == "GET" and path == "/sandbox/state":
                q = parse_qs(str(environ.get("QUERY_STRING") or ""))
                user = (q.get("user") or [""])[0]
                if user not in self.people:
                    user = next(iter(self.people))
                since = int((q.get("since") or ["-1"])[0])
                state = self.state(user, (q.get("channel") or [HOME])[0], since)
                return _json(start_response, "200 OK", state)
            if method == "GET" and path.startswith("/sandbox/files/"):
                f = self.ws.files.get(path.rsplit("/", 1)[1])
                if f is None:
                    return _json(start_response, "404 Not Found", {"error": "no such file"})
                kind = "image/png" if f.data.startswith(b"\x89PNG") else "application/octet-stream"
                return _send(start_response, "200 OK", kind, f.data)
            if method == "POST" and path.startswith("/sandbox/"):
                size = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(size) if size else b"{}"
                return _json(start_response, "200 OK", self.act(path, json.loads(raw or b"{}")))
            return _json(start_response, "404 Not Found", {"error": "not found"})
        except (PlayError, StandinError, KeyError, ValueError) as exc:
            message = str(exc) if isinstance(exc, PlayError) else f"could not do that: {exc}"
            return _json(start_response, "400 Bad Request", {"error": message})


def _threaded(msgs: list[Message]) -> list[Message]:
    """Messages in order, each thread's replies right under its parent."""
    replies: dict[str, list[Message]] = {}
    top: list[Message] = []
    for m in msgs:
        if m.thread_ts is not None and m.thread_ts != m.ts:
            replies.setdefault(m.thread_ts, []).append(m)
        else:
            top.append(m)
    out: list[Message] = []
    for m in top:
        out.append(m)
        out.extend(replies.pop(m.ts, []))
    for rest in replies.values():  # a reply whose parent this person cannot see
        out.extend(rest)
    return out


def _static(name: str) -> bytes:
    return (resources.files("bot.sandbox") / "static" / name).read_bytes()


def _send(start_response: StartResponse, status: str, kind: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            # The page runs only its own script; anything a message could smuggle stays inert.
            # Inline styles are the renderer's own (avatar colours); no text reaches them.
            (
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
            ),
        ],
    )
    return [body]


def _json(start_response: StartResponse, status: str, data: Any) -> list[bytes]:
    return _send(start_response, status, "application/json", json.dumps(data).encode())
