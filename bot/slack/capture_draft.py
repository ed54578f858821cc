"""From a Slack thread to what the capture modal shows, and from the submitted modal back to
an example's texts with each quoted author: the pure half of a capture (no Web API calls)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.plurals import counted
from bot.slack.mrkdwn import NameOf, anonymised, to_markdown
from bot.slack.thread import Thread
from bot.slack.views.capture import SINGLE
from store.consents import Quote
from store.conversations import MAX_TURNS, Turn, merge_consecutive, turn_field
from store.enums import TurnRole
from store.examples import PairText


@dataclass
class Draft:
    """The modal's initial texts, who wrote each field, and what was left out (as notes)."""

    pair: PairText
    turns: list[Turn]
    quoted: dict[str, list[str]]
    sources: dict[str, str]
    notes: list[str] = field(default_factory=list)


def draft(thread: Thread, target_ts: str, mode: str, name_of: NameOf, opted_out: set[str]) -> Draft:
    """The defaults: Single — the first message asks, the one the shortcut was used on answers;
    Conversation — the asker's messages are user turns, everyone else's assistant turns,
    consecutive turns of one side merged. Opted-out people's messages are left out."""
    kept = [m for m in thread.messages if m.user not in opted_out]
    notes: list[str] = []
    left = len(thread.messages) - len(kept)
    if left:
        notes.append(
            f":no_entry_sign: {counted(left, 'message')} by people who opted out of crowdtune "
            "left out: they are never quoted."
        )
    if thread.skipped:
        notes.append(
            f":robot_face: {counted(thread.skipped, 'message')} by bots or Slack left out."
        )
    if thread.truncated:
        notes.append(":scissors: The thread is very long: only its start was read.")
    texts = [to_markdown(m.text, name_of) for m in kept]
    if mode == SINGLE:
        if not kept:
            return Draft(PairText("", "", ""), [], {}, {}, notes)
        answer = next((i for i, m in enumerate(kept) if m.ts == target_ts), None)
        answer = answer if answer not in (None, 0) else None
        quoted = {"instruction": [kept[0].user]}
        if answer is not None:
            quoted["response"] = [kept[answer].user]
        response = texts[answer] if answer is not None else ""
        return Draft(PairText(texts[0], "", response), [], quoted, {}, notes)
    asker = kept[0].user if kept else None
    raw = [
        Turn(TurnRole.USER if m.user == asker else TurnRole.ASSISTANT, text, m.user, m.ts)
        for m, text in zip(kept, texts, strict=True)
    ]
    turns = merge_consecutive(raw)
    groups = [list(g) for _, g in itertools.groupby(raw, key=lambda t: t.role)]
    if len(turns) > MAX_TURNS:
        notes.append(f":scissors: Only the first {MAX_TURNS} of {len(turns)} turns are shown.")
        turns, groups = turns[:MAX_TURNS], groups[:MAX_TURNS]
    quoted = {
        turn_field(i): list(dict.fromkeys(str(t.author) for t in g)) for i, g in enumerate(groups)
    }
    sources = {turn_field(i): str(g[0].source_ts) for i, g in enumerate(groups)}
    return Draft(PairText("", "", ""), turns, quoted, sources, notes)


def single_quotes(pair: PairText, quoted: dict[str, list[str]]) -> list[Quote]:
    """Who is quoted in a submitted pair: each field's authors with the field's final text."""
    texts = {"instruction": pair.instruction, "context": pair.context, "response": pair.response}
    return [
        Quote(author, name, texts[name])
        for name, authors in quoted.items()
        if name in texts
        for author in authors
    ]


@dataclass(frozen=True)
class Submitted:
    """A submitted conversation: its final turns, the quotes, and where each turn's errors go."""

    turns: list[Turn]
    quotes: list[Quote]
    fields: list[str]  # final turn i -> the modal's block id of its (first) text box


def conversation(
    typed: Sequence[Turn], quoted: dict[str, list[str]], sources: dict[str, str]
) -> Submitted:
    """The typed turns with empty ones left out (the capturer's way to drop a message) and
    consecutive turns of one side merged, each final turn quoting the authors of its parts."""
    kept = [(i, t) for i, t in enumerate(typed) if t.text.strip()]
    turns: list[Turn] = []
    quotes: list[Quote] = []
    fields: list[str] = []
    for _, group_iter in itertools.groupby(kept, key=lambda it: it[1].role):
        group = list(group_iter)
        authors = list(dict.fromkeys(a for i, _ in group for a in quoted.get(turn_field(i), [])))
        merged = merge_consecutive(Turn(t.role, t.text.strip()) for _, t in group)[0]
        first = turn_field(group[0][0])
        turns.append(
            Turn(
                merged.role,
                merged.text,
                authors[0] if len(authors) == 1 else None,
                sources.get(first),
            )
        )
        # Keyed by the final turn, like the store's own errors: modal_errors renames both.
        quotes += [Quote(a, turn_field(len(turns) - 1), merged.text) for a in authors]
        fields.append(first)
    return Submitted(turns, quotes, fields)


def modal_errors(errors: dict[str, str], fields: Sequence[str]) -> dict[str, str]:
    """Store errors keyed by final turn (turn_K) renamed to the modal's text boxes."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        index = name.removeprefix("turn_")
        if name.startswith("turn_") and index.isdigit() and int(index) < len(fields):
            name = fields[int(index)]
        out[name] = f"{out[name]} {message}" if name in out else message
    return out


def anonymise_pair(pair: PairText, names: Sequence[str]) -> PairText:
    """The pair with every mentioned person's name replaced by [PERSON]."""
    return PairText(
        *(anonymised(t, names) for t in (pair.instruction, pair.context, pair.response))
    )


def anonymise_turns(turns: Sequence[Turn], names: Sequence[str]) -> list[Turn]:
    """The turns with every mentioned person's name replaced by [PERSON]."""
    return [Turn(t.role, anonymised(t.text, names), t.author, t.source_ts) for t in turns]
