"""The capture modal: a Slack thread as a single example or a conversation, every text
editable, the category pre-selected, mentions named or anonymised."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from bot.slack.fields import BadPayload, json_object, path, text
from bot.slack.views.provenance import safe_link
from bot.slack.views.turns import turn_input_blocks
from bot.slack.views.write import CATEGORY_ACTION, _option, _text_input
from store.conversations import Turn
from store.examples import PairText
from store.models import Category

CAPTURE_CALLBACK = "capture_submit"
MODE_ACTION = "capture_mode"
ANONYMISE = "anonymise"
SINGLE, CONVERSATION = "single", "conversation"
TITLE = "Save as training example"  # 24 characters: Slack's limit for a modal title
_MODES = {SINGLE: "Single example", CONVERSATION: "Conversation"}
MAX_METADATA = 3000  # Slack's limit for private_metadata


class TooLong(ValueError):
    """Who wrote what does not fit in a modal's private_metadata."""


@dataclass(frozen=True)
class CaptureMeta:
    """What the modal captures, in private_metadata: where it is in Slack, and who wrote
    each field (`quoted`: field or turn_N -> Slack user ids), never the texts."""

    channel: str
    message_ts: str
    thread_ts: str | None = None
    permalink: str | None = None
    mode: str = SINGLE
    quoted: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # turn_N -> the message's ts
    names: dict[str, str] = field(default_factory=dict)  # mentioned user id -> display name
    started: float | None = None

    def dumps(self) -> str:
        """JSON for private_metadata; the turns' source ts give way when it is too long,
        and TooLong when even that is not enough."""
        doc = {k: v for k, v in self.__dict__.items() if v not in (None, {}, "")}
        raw = json.dumps(doc, separators=(",", ":"))
        if len(raw) > MAX_METADATA:
            doc.pop("sources", None)  # only provenance of each turn: the capture keeps its own
            raw = json.dumps(doc, separators=(",", ":"))
        if len(raw) > MAX_METADATA:
            raise TooLong(len(raw))
        return raw

    @classmethod
    def loads(cls, raw: Any) -> CaptureMeta:
        """Read private_metadata back; BadPayload when it is not what `dumps` wrote."""
        data = json_object(raw, "private_metadata")
        mode = text(data.get("mode"), "mode", default=SINGLE)
        if mode not in _MODES:
            raise BadPayload(f"mode {mode[:20]!r} is unknown")

        def strings(value: Any, what: str) -> dict[str, Any]:
            doc = value if isinstance(value, dict) else {}
            if not isinstance(value, dict | None):
                raise BadPayload(f"{what} is not an object")
            return doc

        quoted = {
            text(k, "field"): [text(u, "author") for u in (v if isinstance(v, list) else [])]
            for k, v in strings(data.get("quoted"), "quoted").items()
        }
        started = data.get("started")
        return cls(
            channel=text(data.get("channel"), "channel"),
            message_ts=text(data.get("message_ts"), "message_ts"),
            thread_ts=text(data.get("thread_ts"), "thread_ts") or None,
            permalink=text(data.get("permalink"), "permalink") or None,
            mode=mode,
            quoted=quoted,
            sources={
                text(k, "turn"): text(v, "ts")
                for k, v in strings(data.get("sources"), "sources").items()
            },
            names={
                text(k, "user"): text(v, "name")
                for k, v in strings(data.get("names"), "names").items()
            },
            started=started
            if isinstance(started, int | float) and not isinstance(started, bool)
            else None,
        )


def _section(block_id: str, body: str) -> dict[str, Any]:
    return {
        "type": "section",
        "block_id": block_id,
        "text": {"type": "mrkdwn", "text": clip(body, 3000)},
    }


def notice_view(body: str) -> dict[str, Any]:
    """A modal with one message and no submit: "reading the thread…", or why not."""
    return {
        "type": "modal",
        "callback_id": "capture_notice",
        "title": {"type": "plain_text", "text": TITLE},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section("notice", body)],
    }


def _mode_block(mode: str) -> dict[str, Any]:
    options = [{"text": {"type": "plain_text", "text": t}, "value": v} for v, t in _MODES.items()]
    return {
        "type": "actions",
        "block_id": "mode",
        "elements": [
            {
                "type": "radio_buttons",
                "action_id": MODE_ACTION,
                "options": options,
                "initial_option": next(o for o in options if o["value"] == mode),
            }
        ],
    }


def _anonymise_block(ticked: bool) -> dict[str, Any]:
    option = {
        "text": {"type": "plain_text", "text": "Anonymise: people mentioned become [PERSON]"},
        "value": "yes",
    }
    element: dict[str, Any] = {"type": "checkboxes", "action_id": ANONYMISE, "options": [option]}
    if ticked:
        element["initial_options"] = [option]
    return {
        "type": "input",
        "block_id": ANONYMISE,
        "optional": True,
        "label": {"type": "plain_text", "text": "People mentioned"},
        "element": element,
    }


def _warning_blocks(warnings: dict[str, str]) -> list[dict[str, Any]]:
    lines = "\n".join(f"• {escape_mrkdwn(v)}" for v in warnings.values())
    confirm = {
        "text": {"type": "plain_text", "text": "I checked this; submit anyway"},
        "value": "yes",
    }
    return [
        _section("warnings", f":warning: *Please check:*\n{lines}"),
        {
            "type": "input",
            "block_id": "confirm",
            "label": {"type": "plain_text", "text": "Confirm"},
            "element": {"type": "checkboxes", "action_id": "confirm", "options": [confirm]},
        },
    ]


def capture_view(
    categories: Sequence[Category],
    selected: Category,
    meta: CaptureMeta,
    *,
    pair: PairText | None = None,
    turns: Sequence[Turn] = (),
    notes: Sequence[str] = (),
    anonymise: bool = False,
    warnings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The capture modal in `meta.mode`: the pair's three fields, or the turns with a side
    each; `notes` (already mrkdwn) say what was left out and why."""
    link = safe_link(meta.permalink)
    where = f"<{link.replace('&', '&amp;')}|this thread>" if link else "this message"
    head = (
        f":speech_balloon: Saving {where} as training data. Edit every text as you like: the "
        "people quoted are asked for their consent before anyone reviews it."
    )
    blocks = [_section("source", "\n".join([head, *notes])), _mode_block(meta.mode)]
    blocks.append(
        {
            "type": "input",
            "block_id": "category",
            "label": {"type": "plain_text", "text": "Category"},
            "element": {
                "type": "static_select",
                "action_id": CATEGORY_ACTION,
                "options": [_option(c) for c in categories],
                "initial_option": _option(selected),
            },
        }
    )
    if meta.mode == SINGLE:
        pair = pair or PairText("", "", "")
        blocks += [
            _text_input(
                "instruction",
                "Instruction (the question)",
                initial=pair.instruction,
                optional=False,
                hint="Default: the thread's first message.",
                placeholder="What was asked.",
            ),
            _text_input(
                "context",
                "Context (reference text)",
                initial=pair.context,
                optional=True,
                hint="Optional: a passage the answer relies on"
                + (" (this category needs one)." if selected.needs_context else "."),
                placeholder="Paste a passage you may share.",
            ),
            _text_input(
                "response",
                "Response (the answer)",
                initial=pair.response,
                optional=False,
                hint="Default: the message you used the shortcut on.",
                placeholder="The answer you would want a model to give.",
            ),
        ]
    else:
        blocks += turn_input_blocks(turns, buttons=False)
    blocks.append(_anonymise_block(anonymise))
    if warnings:
        blocks += _warning_blocks(warnings)
    return {
        "type": "modal",
        "callback_id": CAPTURE_CALLBACK,
        "title": {"type": "plain_text", "text": TITLE},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta.dumps(),
        "blocks": blocks,
    }


def read_anonymise(view: Any) -> bool:
    """True when the capturer ticked "anonymise"."""
    chosen = path(view, "state", "values", ANONYMISE, ANONYMISE).get("selected_options")
    if chosen is not None and not isinstance(chosen, list):
        raise BadPayload("selected_options is not a list")
    return bool(chosen)


def read_mode(action: Any) -> str:
    """The mode chosen with the radio buttons."""
    value = text(path(action, "selected_option").get("value"), "mode")
    if value not in _MODES:
        raise BadPayload(f"mode {value[:20]!r} is unknown")
    return value
