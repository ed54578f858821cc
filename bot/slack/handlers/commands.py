"""`/crowdtune SUBCOMMAND`: ack at once, then one call into store and a reply."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.escape import escape_mrkdwn
from bot.slack.fields import BadPayload
from bot.slack.handlers.categories import open_categories
from bot.slack.handlers.common import (
    Deps,
    acting_person,
    acting_user,
    reading_as_person,
)
from bot.slack.handlers.listeners import Later, listen
from bot.slack.handlers.review import next_message
from bot.slack.handlers.write import open_write_modal
from bot.slack.views.report import report_text
from bot.slack.views.text import leaderboard_text, stats_text, targets_text
from bot.slack.views.write import CONVERSATION
from exporters.report_charts import agreement_chart
from store.categories import set_target
from store.contributors import set_opt_out
from store.errors import PermissionDenied, ValidationFailed
from store.stats import category_counts, conversation_counts, leaderboard

COMMAND = "/crowdtune"
# Longer than any real subcommand with its options.
MAX_COMMAND_CHARS = 2000
REPORT_CHART = "crowdtune-agreement.png"


@dataclass(frozen=True)
class Request:
    """One slash command as the listeners see it (after the ack: `later` is what the change
    before it left)."""

    deps: Deps
    args: list[str]
    body: dict[str, Any]
    client: WebClient
    respond: Respond
    context: BoltContext
    later: Later = field(default_factory=dict)


@dataclass(frozen=True)
class Change:
    """One slash command before its ack: what a subcommand's change needs."""

    deps: Deps
    args: list[str]
    body: dict[str, Any]
    context: BoltContext


@dataclass(frozen=True)
class Subcommand:
    """A `/crowdtune` subcommand: usage line, help text, admin-only, its reply after the ack,
    and the change it commits before the ack (returning the reply's text), if any."""

    usage: str
    help: str
    run: Callable[[Request], None]
    admin: bool = False
    change: Callable[[Change], str | None] | None = None


def _reply(req: Request, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    req.respond(text=text, blocks=blocks, response_type="ephemeral")


def _write(req: Request) -> None:
    args = list(req.args)
    # `write conversation [category]` opens the form on turns (the form can switch either way).
    conversation = bool(args) and args[0].lower() == CONVERSATION
    if conversation:
        args.pop(0)
    slug = args[0] if args else None
    user = acting_user(req.context, req.body)
    open_write_modal(
        req.deps, req.client, req.body["trigger_id"], slug, user=user, conversation=conversation
    )


def _review(req: Request) -> None:
    with reading_as_person(req.deps, req.context, req.body) as (s, me):
        text, blocks = next_message(s, me)
    _reply(req, text, blocks)


def _stats(req: Request) -> None:
    # The reply goes out once the read is over: a connection lost while it closes must not
    # follow a sent answer with an error.
    with req.deps.reading() as s:
        text = stats_text(category_counts(s), conversation_counts(s))
    _reply(req, text)


def _leaderboard(req: Request) -> None:
    with req.deps.reading() as s:
        text = leaderboard_text(leaderboard(s, limit=10))
    _reply(req, text)


def _opt_out(change: Change) -> str:
    with change.deps.session() as s:
        set_opt_out(s, acting_person(s, change.context, change.body), True)
    return (
        "Done: I won't send you reminders. You can still `/crowdtune write` any time; "
        "`/crowdtune optin` turns reminders back on."
    )


def _opt_in(change: Change) -> str:
    with change.deps.session() as s:
        set_opt_out(s, acting_person(s, change.context, change.body), False)
    return "Welcome back: I'll remind you now and then (never in your quiet hours)."


def _set_target(change: Change) -> str | None:
    if change.args[:1] != ["set"]:
        return None  # showing the targets changes nothing
    if len(change.args) != 3 or not change.args[2].isdigit():
        raise ValidationFailed({"target": "Usage: `/crowdtune targets set SLUG N`"})
    with change.deps.session() as s:
        cat = set_target(s, change.args[1], int(change.args[2]))
        return f"Target of `{escape_mrkdwn(cat.slug)}` set to {cat.target}."


def _changed(req: Request) -> None:
    _reply(req, str(req.later["text"]))


def _targets(req: Request) -> None:
    if "text" in req.later:
        _reply(req, str(req.later["text"]))
        return
    with req.deps.reading() as s:
        text = targets_text(category_counts(s))
    _reply(req, text)


def _export(req: Request) -> None:
    options = " ".join(req.args) or req.deps.export_args
    _reply(req, f"Export started: `crowdtune export {escape_mrkdwn(options)}`…")
    _reply(req, escape_mrkdwn(req.deps.exporter(options)))


def _report(req: Request) -> None:
    if req.deps.reporter is None:
        _reply(req, "The report is not available in this app.")
        return
    report = req.deps.reporter()
    text = report_text(report)
    channel = req.body.get("channel_id")
    try:
        req.client.files_upload_v2(
            channel=channel,
            file=agreement_chart(report),
            filename=REPORT_CHART,
            title="crowdtune reviewer agreement",
            initial_comment=text,
        )
    except SlackApiError as exc:
        # The bot may not be in this channel (or it is a DM it cannot post to): the admin
        # still gets the summary, with why the chart did not go up.
        error = escape_mrkdwn(str(exc.response.get("error")))
        _reply(req, f"{text}\n\n_(Could not post the chart here: {error}. Invite me first.)_")


def _categories(req: Request) -> None:
    open_categories(req.deps, req.client, req.body["trigger_id"])


def _help(req: Request) -> None:
    with req.deps.session() as s:
        admin = req.deps.is_admin(acting_person(s, req.context, req.body))
    _reply(req, help_text(admin=admin))


SUBCOMMANDS: dict[str, Subcommand] = {
    "write": Subcommand(
        "write [category]",
        "write an example (opens a form; `write conversation [category]` for several turns)",
        _write,
    ),
    "review": Subcommand("review", "review an example someone else wrote", _review),
    "stats": Subcommand("stats", "progress of each category toward its target", _stats),
    "leaderboard": Subcommand("leaderboard", "top contributors", _leaderboard),
    "help": Subcommand("help", "this list", _help),
    "optout": Subcommand("optout", "stop reminders", _changed, change=_opt_out),
    "optin": Subcommand("optin", "resume reminders", _changed, change=_opt_in),
    "targets": Subcommand(
        "targets [set SLUG N]",
        "show or set category targets (admins)",
        _targets,
        admin=True,
        change=_set_target,
    ),
    "export": Subcommand(
        "export [options]", "export the dataset now (admins)", _export, admin=True
    ),
    "report": Subcommand(
        "report", "post reviewer agreement and sourcing figures here (admins)", _report, admin=True
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


def _words(body: dict[str, Any]) -> list[str]:
    text = body.get("text") or ""
    if not isinstance(text, str):
        raise BadPayload("the command text is not a string")
    # Refused before splitting: shlex on a megabyte of text takes seconds of CPU.
    if len(text) > MAX_COMMAND_CHARS:
        raise ValidationFailed(
            {"text": f"That command is too long: at most {MAX_COMMAND_CHARS:,} characters."}
        )
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def register(app: App, deps: Deps) -> None:
    """The `/crowdtune` listener: a subcommand's change before the ack, its reply after."""

    def change(body: dict[str, Any], context: BoltContext) -> Later | None:
        words = _words(body)
        sub = SUBCOMMANDS.get(words[0].lower() if words else "help")
        if sub is None or sub.change is None:
            return None
        with deps.session() as s:
            if sub.admin and not deps.is_admin(acting_person(s, context, body)):
                return None  # changes nothing; the reply after the ack says why
        text = sub.change(Change(deps, words[1:], body, context))
        return None if text is None else {"text": text}

    def crowdtune(
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
        later: Later,
    ) -> None:
        words = _words(body)
        name = words[0].lower() if words else "help"
        sub = SUBCOMMANDS.get(name)
        req = Request(deps, words[1:], body, client, respond, context, later)
        if sub is None:
            respond(
                text=f"I don't know `{escape_mrkdwn(name)}`.\n" + help_text(admin=False),
                response_type="ephemeral",
            )
            return
        if sub.admin and "text" not in later:  # no change was made: was it allowed?
            with deps.session() as s:
                if not deps.is_admin(acting_person(s, context, body)):
                    raise PermissionDenied(
                        f"Sorry, `{COMMAND} {name}` is for crowdtune admins. "
                        "Ask an admin if you need it."
                    )
        sub.run(req)

    listen(app.command(COMMAND), crowdtune, commit=change)
