"""`/crowdtune SUBCOMMAND`: ack at once, then one call into store and a reply."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.slack.escape import escape_mrkdwn
from bot.slack.handlers.categories import open_categories
from bot.slack.handlers.common import Deps, acting_person, acting_user, lazily
from bot.slack.handlers.review import next_message
from bot.slack.handlers.write import open_write_modal
from bot.slack.views.text import leaderboard_text, stats_text, targets_text
from store.categories import set_target
from store.contributors import set_opt_out
from store.errors import PermissionDenied, ValidationFailed
from store.stats import category_counts, leaderboard

COMMAND = "/crowdtune"


@dataclass(frozen=True)
class Request:
    """One slash command as the listeners see it."""

    deps: Deps
    args: list[str]
    body: dict[str, Any]
    client: WebClient
    respond: Respond
    context: BoltContext


@dataclass(frozen=True)
class Subcommand:
    """A `/crowdtune` subcommand: usage line, help text, admin-only, handler."""

    usage: str
    help: str
    run: Callable[[Request], None]
    admin: bool = False


def _reply(req: Request, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    req.respond(text=text, blocks=blocks, response_type="ephemeral")


def _write(req: Request) -> None:
    slug = req.args[0] if req.args else None
    user = acting_user(req.context, req.body)
    open_write_modal(req.deps, req.client, req.body["trigger_id"], slug, user=user)


def _review(req: Request) -> None:
    with req.deps.session() as s:
        me = acting_person(s, req.context, req.body)
        text, blocks = next_message(s, me)
    _reply(req, text, blocks)


def _stats(req: Request) -> None:
    with req.deps.session() as s:
        _reply(req, stats_text(category_counts(s)))


def _leaderboard(req: Request) -> None:
    with req.deps.session() as s:
        _reply(req, leaderboard_text(leaderboard(s, limit=10)))


def _optout(req: Request) -> None:
    with req.deps.session() as s:
        set_opt_out(s, acting_person(s, req.context, req.body), True)
    _reply(
        req,
        "Done: I won't send you reminders. You can still `/crowdtune write` any time; "
        "`/crowdtune optin` turns reminders back on.",
    )


def _optin(req: Request) -> None:
    with req.deps.session() as s:
        set_opt_out(s, acting_person(s, req.context, req.body), False)
    _reply(req, "Welcome back: I'll remind you now and then (never in your quiet hours).")


def _targets(req: Request) -> None:
    with req.deps.session() as s:
        if req.args[:1] == ["set"]:
            if len(req.args) != 3 or not req.args[2].isdigit():
                raise ValidationFailed({"target": "Usage: `/crowdtune targets set SLUG N`"})
            cat = set_target(s, req.args[1], int(req.args[2]))
            _reply(req, f"Target of `{escape_mrkdwn(cat.slug)}` set to {cat.target}.")
            return
        _reply(req, targets_text(category_counts(s)))


def _export(req: Request) -> None:
    options = " ".join(req.args) or req.deps.export_args
    _reply(req, f"Export started: `crowdtune export {escape_mrkdwn(options)}`…")
    _reply(req, escape_mrkdwn(req.deps.exporter(options)))


def _categories(req: Request) -> None:
    open_categories(req.deps, req.client, req.body["trigger_id"])


def _help(req: Request) -> None:
    with req.deps.session() as s:
        admin = req.deps.is_admin(acting_person(s, req.context, req.body))
    _reply(req, help_text(admin=admin))


SUBCOMMANDS: dict[str, Subcommand] = {
    "write": Subcommand("write [category]", "write an example (opens a form)", _write),
    "review": Subcommand("review", "review an example someone else wrote", _review),
    "stats": Subcommand("stats", "progress of each category toward its target", _stats),
    "leaderboard": Subcommand("leaderboard", "top contributors", _leaderboard),
    "help": Subcommand("help", "this list", _help),
    "optout": Subcommand("optout", "stop reminders", _optout),
    "optin": Subcommand("optin", "resume reminders", _optin),
    "targets": Subcommand(
        "targets [set SLUG N]", "show or set category targets (admins)", _targets, admin=True
    ),
    "export": Subcommand(
        "export [options]", "export the dataset now (admins)", _export, admin=True
    ),
    "categories": Subcommand(
        "categories", "add, edit or retire categories (admins)", _categories, admin=True
    ),
}


def help_text(*, admin: bool) -> str:
    """The subcommands this person may use."""
    lines = ["*crowdtune* helps build our instruction-tuning dataset. Commands:"]
    for sub in SUBCOMMANDS.values():
        if sub.admin and not admin:
            continue
        lines.append(f"• `{COMMAND} {sub.usage}`: {sub.help}")
    return "\n".join(lines)


def register(app: App, deps: Deps) -> None:
    """The `/crowdtune` listener."""

    @lazily(app.command(COMMAND))
    def crowdtune(
        ack: Ack,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        try:
            words = shlex.split(body.get("text") or "")
        except ValueError:
            words = (body.get("text") or "").split()
        name = words[0].lower() if words else "help"
        sub = SUBCOMMANDS.get(name)
        req = Request(deps, words[1:], body, client, respond, context)
        if sub is None:
            respond(
                text=f"I don't know `{escape_mrkdwn(name)}`.\n" + help_text(admin=False),
                response_type="ephemeral",
            )
            return
        if sub.admin:
            with deps.session() as s:
                if not deps.is_admin(acting_person(s, context, body)):
                    raise PermissionDenied(
                        f"Sorry, `{COMMAND} {name}` is for crowdtune admins. "
                        "Ask an admin if you need it."
                    )
        sub.run(req)
