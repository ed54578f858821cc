"""Reviewing and verifying: the next example, Approve/Edit/Reject/Skip, and their modals."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy.orm import Session

from bot.slack.errors import friendly
from bot.slack.handlers.common import (
    Deps,
    ack_now,
    acting_person,
    after_ack,
    lazily,
    leave_for_later,
    show,
)
from bot.slack.views.review import (
    RATE_ACTION,
    REJECT_CALLBACK,
    example_blocks,
    nothing_to_review_blocks,
    read_button_value,
    read_rating,
    read_reason,
    reject_modal,
)
from bot.slack.views.write import (
    EDIT_CALLBACK,
    INPUT_MAX,
    ModalMeta,
    field_errors,
    read_text,
    write_modal,
)
from store.assignments import complete_open
from store.enums import AssignmentKind, ExampleStatus, Verdict
from store.errors import DomainError, ValidationFailed
from store.examples import PairText, get_example
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
) -> ReviewOutcome:
    """Verify a draft or review an example, and close the person's assignment for it."""
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
        )
    kind = AssignmentKind.VERIFY if draft else AssignmentKind.REVIEW
    complete_open(s, me, kind, now=utcnow(), example_id=example_id)
    return outcome


def register(app: App, deps: Deps) -> None:
    """Listeners of review and verify messages and modals."""

    def review_or_verify(verdict: Verdict, draft: bool) -> Any:
        def handler(
            ack: Ack,
            body: dict[str, Any],
            action: dict[str, Any],
            client: WebClient,
            respond: Respond,
            context: BoltContext,
        ) -> None:
            ack()
            example_id, skipped = read_button_value(action["value"])
            with deps.session() as s:
                me = acting_person(s, context, body)
                rating = None if draft else read_rating(body.get("state"))
                outcome = _decide(s, deps, me, example_id, verdict, draft=draft, rating=rating)
                note = _outcome_note(outcome, "Verified" if draft else "Approved")
                text, blocks = next_message(s, me, skipped=skipped, note=note)
            show(client, body, respond, text=text, blocks=blocks)

        return handler

    lazily(app.action("review_approve"))(review_or_verify(Verdict.APPROVE, draft=False))
    lazily(app.action("verify_ok"))(review_or_verify(Verdict.APPROVE, draft=True))

    # The rating is read from the message state when the person decides: just ack.
    app.action(RATE_ACTION)(ack_now)

    def skip(
        ack: Ack,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Respond,
        context: BoltContext,
    ) -> None:
        ack()
        example_id, skipped = read_button_value(action["value"])
        with deps.session() as s:
            me = acting_person(s, context, body)
            text, blocks = next_message(s, me, skipped=[*skipped, example_id])
        show(client, body, respond, text=text, blocks=blocks)

    lazily(app.action("review_skip"))(skip)
    lazily(app.action("verify_skip"))(skip)

    def edit(mode: str) -> Any:
        def handler(
            ack: Ack,
            body: dict[str, Any],
            action: dict[str, Any],
            client: WebClient,
            respond: Respond,
        ) -> None:
            ack()
            example_id, _ = read_button_value(action["value"])
            with deps.session() as s:
                example = get_example(s, example_id)
                too_long = max(
                    len(example.instruction), len(example.context), len(example.response)
                )
                view = write_modal(
                    [example.category],
                    example.category,
                    meta=ModalMeta(
                        mode=mode,
                        example_id=example.id,
                        category=example.category.slug,
                        reply_url=body.get("response_url"),
                    ),
                    text=read_text_of(example),
                )
            if too_long > INPUT_MAX:
                raise ValidationFailed(
                    {
                        "response": f"This example has a field over {INPUT_MAX:,} characters, "
                        "which Slack cannot edit; approve or reject it instead."
                    }
                )
            client.views_open(trigger_id=body["trigger_id"], view=view)

        return handler

    lazily(app.action("review_edit"))(edit("review"))
    lazily(app.action("verify_edit"))(edit("verify"))

    def reject(mode: str) -> Any:
        def handler(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient
        ) -> None:
            ack()
            example_id, _ = read_button_value(action["value"])
            meta = ModalMeta(mode=mode, example_id=example_id, reply_url=body.get("response_url"))
            client.views_open(trigger_id=body["trigger_id"], view=reject_modal(meta))

        return handler

    lazily(app.action("review_reject"))(reject("review"))
    lazily(app.action("verify_reject"))(reject("verify"))

    def submit_verdict(verdict: Verdict) -> Any:
        # The edit and reject modals differ only in what they read and where errors go.
        error_block = "instruction" if verdict == Verdict.EDIT else "reason"

        def handler(
            ack: Ack,
            body: dict[str, Any],
            view: dict[str, Any],
            client: WebClient,
            context: BoltContext,
        ) -> None:
            meta = ModalMeta.loads(view.get("private_metadata"))
            assert meta.example_id is not None
            edited = read_text(view) if verdict == Verdict.EDIT else None
            reason = read_reason(view) if verdict == Verdict.REJECT else None
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
                    )
                    verb = (
                        f"Edit saved as revision {outcome.example.revision}"
                        if edited is not None
                        else "Rejected"
                    )
                    text, blocks = next_message(s, me, note=_outcome_note(outcome, verb))
            except ValidationFailed as exc:
                errors = (
                    field_errors(exc.errors, view)
                    if edited is not None
                    else {"reason": " ".join(exc.errors.values())}
                )
                ack(response_action="errors", errors=errors)
                return
            except DomainError as exc:
                ack(response_action="errors", errors={error_block: exc.message})
                return
            ack()
            # The reply is a Web API call: it goes after the ack, in the lazy follow-up.
            leave_for_later(context, url=meta.reply_url, text=text, blocks=blocks)

        return handler

    def send_reply(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        reply = after_ack(context)
        if reply is not None:
            _reply(client, body, reply["url"], reply["text"], reply["blocks"])

    # Validation must answer in the ack (response_action), so the store call runs there.
    app.view(EDIT_CALLBACK)(ack=friendly(submit_verdict(Verdict.EDIT)), lazy=[friendly(send_reply)])
    app.view(REJECT_CALLBACK)(
        ack=friendly(submit_verdict(Verdict.REJECT)), lazy=[friendly(send_reply)]
    )


def read_text_of(example: Example) -> PairText:
    """The example's current text as a PairText."""
    return PairText(example.instruction, example.context, example.response)


def _reply(
    client: WebClient,
    body: dict[str, Any],
    url: str | None,
    text: str,
    blocks: list[dict[str, Any]],
) -> None:
    # Replace the message the person clicked in, when we know it; else a DM.
    if url:
        WebhookClient(url).send(text=text, blocks=blocks, replace_original=True)
        return
    client.chat_postMessage(channel=body["user"]["id"], text=text, blocks=blocks)
