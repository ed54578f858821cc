"""Reviewing and verifying: the next example, Approve/Edit/Reject/Skip, and their modals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.slack.handlers.common import Deps, acting_person, reading_as, show
from bot.slack.handlers.listeners import Commit, FollowUp, Later, ack_only, listen
from bot.slack.views.review import (
    RATE_ACTION,
    REJECT_CALLBACK,
    example_blocks,
    nothing_to_review_blocks,
    read_button_value,
    read_rating,
    read_reason,
    read_shown,
    reject_modal,
)
from bot.slack.views.turns import read_turns
from bot.slack.views.write import (
    CONVERSATION,
    EDIT_CALLBACK,
    INPUT_MAX,
    ModalMeta,
    epoch_to_utc,
    field_errors,
    read_text,
    write_modal,
)
from store.assignments import complete_open
from store.conversations import Turn, turns_of
from store.enums import AssignmentKind, AssignmentStatus, ExampleKind, ExampleStatus, Verdict
from store.errors import DomainError, ValidationFailed
from store.examples import PairText, example_to_act_on
from store.experts import affinity, next_for_review_routed
from store.models import Contributor, Example
from store.reviews import ReviewOutcome, record_review, verify_draft
from store.types import utcnow


def next_message(
    session: Session,
    me: Contributor,
    *,
    skipped: list[int] | None = None,
    note: str = "",
    drafts_first: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Text and blocks of the next example for this person: pending first, then AI drafts;
    within each, their expert categories' first."""
    skipped = list(skipped or [])
    exclude = frozenset(skipped)
    order = [ExampleStatus.PENDING, ExampleStatus.DRAFT]
    if drafts_first:
        order.reverse()
    example = None
    # Experts get the examples of their own categories first.
    person = affinity(session, me)
    for status in order:
        example = example or next_for_review_routed(
            session, me, person, status=status, exclude_ids=exclude
        )
    if example is None:
        blocks = nothing_to_review_blocks(note)
        return "Nothing to review right now.", blocks
    blocks = example_blocks(example, skipped=skipped)
    if note:
        blocks.insert(0, {"type": "section", "text": {"type": "mrkdwn", "text": note}})
    kind = "AI draft to verify" if example.status == ExampleStatus.DRAFT else "Example to review"
    return f"{kind}: #{example.id}", blocks


def _outcome_note(outcome: ReviewOutcome, verb: str) -> str:
    status = outcome.example.status
    if outcome.decided:
        return f":white_check_mark: {verb}. Example #{outcome.example.id} is now *{status.value}*."
    if status == ExampleStatus.PENDING and verb.startswith("Verified"):
        return f":white_check_mark: {verb}. It now goes to review."
    return f":white_check_mark: {verb}. Thanks! Here is the next one."


def _decide(
    s: Session,
    deps: Deps,
    me: Contributor,
    example_id: int,
    verdict: Verdict,
    *,
    draft: bool,
    reason: str | None = None,
    rating: int | None = None,
    edited: PairText | None = None,
    shown_at: datetime | None = None,
    turns: list[Turn] | None = None,
) -> ReviewOutcome:
    """Verify a draft or review an example (an edit: `edited`, or a conversation's `turns`),
    and close the person's assignment for it."""
    if draft:
        outcome = verify_draft(
            s,
            example_id=example_id,
            verifier=me,
            verdict=verdict,
            quorum=deps.quorum,
            reason=reason,
            edited=edited,
            gate=deps.gate,
            shown_at=shown_at,
            turns=turns,
        )
    else:
        outcome = record_review(
            s,
            example_id=example_id,
            reviewer=me,
            verdict=verdict,
            quorum=deps.quorum,
            reason=reason,
            rating=rating,
            edited=edited,
            gate=deps.gate,
            shown_at=shown_at,
            turns=turns,
        )
    kind = AssignmentKind.VERIFY if draft else AssignmentKind.REVIEW
    complete_open(s, me, kind, now=utcnow(), example_id=example_id)
    return outcome


def register(app: App, deps: Deps) -> None:
    """Listeners of review and verify messages and modals."""

    def review_or_verify(verdict: Verdict, draft: bool) -> Commit:
        def decide(body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> Later:
            example_id, skipped = read_button_value(action.get("value"))
            with deps.session() as s:
                me = acting_person(s, context, body)
                rating = None if draft else read_rating(body.get("state"))
                shown_at = epoch_to_utc(read_shown(action.get("value")))
                outcome = _decide(
                    s, deps, me, example_id, verdict, draft=draft, rating=rating, shown_at=shown_at
                )
                note = _outcome_note(outcome, "Verified" if draft else "Approved")
            return {"note": note, "skipped": skipped, "me": me.id}

        decide.__name__ = "verify" if draft else "approve"
        return decide

    def skip(body: dict[str, Any], action: dict[str, Any], context: BoltContext) -> Later:
        example_id, skipped = read_button_value(action.get("value"))
        draft = action["action_id"] == "verify_skip"
        with deps.session() as s:
            me = acting_person(s, context, body)
            kind = AssignmentKind.VERIFY if draft else AssignmentKind.REVIEW
            # Asked for this one by a nudge: the assignment is answered, by a skip.
            complete_open(
                s, me, kind, now=utcnow(), example_id=example_id, status=AssignmentStatus.SKIPPED
            )
        return {"note": "", "skipped": [*skipped, example_id], "me": me.id}

    def show_next(
        body: dict[str, Any], client: WebClient, context: BoltContext, later: Later
    ) -> None:
        with deps.reading() as s:
            me = s.get_one(Contributor, later["me"])  # the ack half knew who
            text, blocks = next_message(s, me, skipped=later["skipped"], note=later["note"])
        show(client, body, text=text, blocks=blocks)

    for action_id, commit in (
        ("review_approve", review_or_verify(Verdict.APPROVE, draft=False)),
        ("verify_ok", review_or_verify(Verdict.APPROVE, draft=True)),
        ("review_skip", skip),
        ("verify_skip", skip),
    ):
        listen(app.action(action_id), show_next, commit=commit)

    # The rating is read from the message state when the person decides: just ack.
    app.action(RATE_ACTION)(ack_only)

    def edit(mode: str) -> FollowUp:
        def open_edit(
            body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
        ) -> None:
            example_id, _ = read_button_value(action.get("value"))
            me_id = reading_as(deps, context, body)
            with deps.reading() as s:
                # Checked before any text is shown: a forged button must not reveal others'
                # rejected examples, or let anyone edit their own.
                me = s.get_one(Contributor, me_id)
                example = example_to_act_on(s, example_id, me, verify=mode == "verify")
                turns = turns_of(example) if example.kind == ExampleKind.CONVERSATION else None
                pair = read_text_of(example)
                texts = [t.text for t in turns or []] or [
                    pair.instruction,
                    pair.context,
                    pair.response,
                ]
                too_long = max(len(t) for t in texts)
                view = write_modal(
                    [example.category],
                    example.category,
                    meta=ModalMeta(
                        mode=mode,
                        example_id=example.id,
                        category=example.category.slug,
                        reply_url=body.get("response_url"),
                        started=read_shown(action.get("value")),
                        kind=CONVERSATION if turns is not None else None,
                    ),
                    text=pair,
                    turns=turns,
                )
            if too_long > INPUT_MAX:
                raise ValidationFailed(
                    {
                        "response": f"This example has a text over {INPUT_MAX:,} characters, "
                        "which Slack cannot edit; approve or reject it instead."
                    }
                )
            client.views_open(trigger_id=body["trigger_id"], view=view)

        return open_edit

    listen(app.action("review_edit"), edit("review"))
    listen(app.action("verify_edit"), edit("verify"))

    def reject(mode: str) -> FollowUp:
        def open_reject(body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
            example_id, _ = read_button_value(action.get("value"))
            meta = ModalMeta(
                mode=mode,
                example_id=example_id,
                reply_url=body.get("response_url"),
                started=read_shown(action.get("value")),
            )
            client.views_open(trigger_id=body["trigger_id"], view=reject_modal(meta))

        return open_reject

    listen(app.action("review_reject"), reject("review"))
    listen(app.action("verify_reject"), reject("verify"))

    def submit_verdict(verdict: Verdict) -> Commit:
        # The edit and reject modals differ only in what they read and where errors go.

        def submit(
            ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
        ) -> Later | None:
            meta = ModalMeta.loads(view.get("private_metadata"))
            assert meta.example_id is not None
            editing = verdict == Verdict.EDIT
            turns = read_turns(view) if editing and meta.conversation else None
            edited = read_text(view) if editing and turns is None else None
            reason = read_reason(view) if verdict == Verdict.REJECT else None
            error_block = "reason" if not editing else "turn_0" if turns else "instruction"
            try:
                with deps.session() as s:
                    me = acting_person(s, context, body)
                    outcome = _decide(
                        s,
                        deps,
                        me,
                        meta.example_id,
                        verdict,
                        draft=meta.mode == "verify",
                        edited=edited,
                        reason=reason,
                        shown_at=meta.started_at,
                        turns=turns,
                    )
                    verb = (
                        f"Edit saved as revision {outcome.example.revision}"
                        if editing
                        else "Rejected"
                    )
                    note = _outcome_note(outcome, verb)
            except ValidationFailed as exc:
                errors = (
                    field_errors(exc.errors, view)
                    if editing
                    else {"reason": " ".join(exc.errors.values())}
                )
                ack(response_action="errors", errors=errors)
                return None
            except DomainError as exc:
                ack(response_action="errors", errors={error_block: exc.message})
                return None
            return {"url": meta.reply_url, "note": note, "me": me.id}

        submit.__name__ = f"submit_{verdict.value}"
        return submit

    def reply_next(
        body: dict[str, Any], client: WebClient, context: BoltContext, later: Later
    ) -> None:
        if not later:  # the submission came back with errors: the modal shows them
            return
        with deps.reading() as s:
            text, blocks = next_message(s, s.get_one(Contributor, later["me"]), note=later["note"])
        # Replace the message the person clicked in, when we know it; else a DM.
        show(client, body, text=text, blocks=blocks, url=later["url"])

    # Validation must answer in the ack (response_action), so the store call runs there.
    listen(app.view(EDIT_CALLBACK), reply_next, commit=submit_verdict(Verdict.EDIT))
    listen(app.view(REJECT_CALLBACK), reply_next, commit=submit_verdict(Verdict.REJECT))


def read_text_of(example: Example) -> PairText:
    """The example's current text as a PairText."""
    return PairText(example.instruction, example.context, example.response)
