"""Slack's side of a person's actions: each becomes the signed request Slack would send.

A command, a click, a submission, a close or opening App Home is turned into the payload
Slack sends (with a fresh trigger_id and response_url the stand-in will honour), POSTed to
the app, and the app's answer applied the way Slack applies it (a submission's
`response_action`: errors on the field, update, push, clear, or close).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.payloads import (
    AppEndpoint,
    AppReply,
    app_home_opened,
    block_actions,
    element_state,
    message_action,
    slash_command,
    state_of,
    view_closed,
    view_submission,
)
from bot.sandbox.people import Person
from bot.slack.handlers.capture import SHORTCUT
from bot.slack.standin.web_api import APP_ID, BOT_ID, TEAM_ID, SlackDouble, view_problems
from bot.slack.standin.workspace import Message, OpenView, StandinError, Workspace

log = logging.getLogger(__name__)

# typed values from the page: "block_id/action_id" → the values typed or chosen
Typed = Mapping[str, list[str]]


class PlayError(Exception):
    """Something the person did could not be delivered; the message says what happened."""


@dataclass(frozen=True)
class Where:
    """Where a click happened: a message (channel and ts) or a view (modal or App Home)."""

    channel: str | None = None
    ts: str | None = None
    view_id: str | None = None


def _find_element(
    blocks: list[dict[str, Any]], block_id: str, action_id: str
) -> dict[str, Any] | None:
    for block in blocks:
        if str(block.get("block_id") or "") != block_id:
            continue
        els: list[Any] = [block.get("accessory"), block.get("element")]
        els.extend(block.get("elements") or [])
        for el in els:
            if isinstance(el, dict) and el.get("action_id") == action_id:
                return el
    return None


def _action(el: dict[str, Any], block_id: str, values: list[str]) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": el.get("type"),
        "action_id": el.get("action_id"),
        "block_id": block_id,
    }
    if el.get("type") == "button":
        action["value"] = el.get("value", "")
        action["text"] = el.get("text")
        if el.get("style"):
            action["style"] = el["style"]
    else:
        state = element_state(el, values)
        state.pop("type", None)
        action.update(state)
    return action


class Player:
    """Plays the people of the sandbox against the app, through the stand-in's workspace."""

    def __init__(
        self,
        workspace: Workspace,
        double: SlackDouble,
        app: AppEndpoint,
        people: Mapping[str, Person],
    ) -> None:
        self.ws = workspace
        self.double = double
        self.app = app
        self.people = people

    def _person(self, user: str) -> Person:
        person = self.people.get(user)
        if person is None:
            raise PlayError(f"nobody called {user} works here")
        return person

    def _response_url(self, user: str, channel: str, ts: str | None) -> str:
        name = "sb-" + uuid.uuid4().hex
        self.ws.issue_response_url(name, user, channel, ts)
        return self.double.response_url(name)

    def _check(self, reply: AppReply, what: str) -> AppReply:
        if reply.status != 200:
            raise PlayError(f"the app answered {what} with HTTP {reply.status}")
        return reply

    def _channel_name(self, channel: str) -> str:
        chan = self.ws.channels.get(channel)
        if chan is None or chan.is_im:
            return "directmessage"
        return chan.name

    # --- what a person can do ---
    def command(self, user: str, channel: str, text: str) -> None:
        """`/crowdtune TEXT` typed in `channel` (the text after the command)."""
        person = self._person(user)
        # As in Slack, the command itself is not posted: the person sees only the app's reply.
        fields = slash_command(
            user_id=user,
            user_name=person.name,
            channel_id=channel,
            channel_name=self._channel_name(channel),
            text=text,
            trigger_id=self.ws.issue_trigger(user),
            response_url=self._response_url(user, channel, None),
        )
        self._check(self.app.form(fields), "the slash command")

    def say(self, user: str, channel: str, text: str, *, thread_ts: str | None = None) -> None:
        """A plain message, or a reply in the thread of `thread_ts` (the app does not
        subscribe to messages; they are only shown, and read by the capture shortcut)."""
        self._person(user)
        try:
            self.ws.add_message(channel, user, text, thread_ts=thread_ts)
        except StandinError as exc:
            raise PlayError("that thread is gone") from exc

    def shortcut(self, user: str, channel: str, ts: str) -> None:
        """ "Save as training example" (the message shortcut) used on the message `ts`."""
        person = self._person(user)
        msg = self._message(user, Where(channel=channel, ts=ts, view_id=None))
        message: dict[str, Any] = {"user": msg.user, "text": msg.text, "ts": msg.ts}
        if msg.thread_ts:
            message["thread_ts"] = msg.thread_ts
        if msg.user == self.ws.bot_user:
            message["bot_id"] = BOT_ID
        payload = message_action(
            user_id=user,
            user_name=person.name,
            channel={"id": channel, "name": self._channel_name(channel)},
            message=message,
            callback_id=SHORTCUT,
            trigger_id=self.ws.issue_trigger(user),
            response_url=self._response_url(user, channel, None),
        )
        self._check(self.app.interactive(payload), "the shortcut")

    def click(self, user: str, where: Where, block_id: str, action_id: str, typed: Typed) -> None:
        """A button press or a selection in a message, a modal or App Home."""
        person = self._person(user)
        if where.view_id:
            view = self._view(user, where.view_id)
            blocks = list(view.view.get("blocks") or [])
            el = _find_element(blocks, block_id, action_id)
            if el is None:
                raise PlayError("that control is no longer there")
            payload = block_actions(
                user_id=user,
                user_name=person.name,
                action=_action(el, block_id, list(typed.get(f"{block_id}/{action_id}", []))),
                trigger_id=self.ws.issue_trigger(user),
                container={"type": "view", "view_id": view.id},
                state=state_of(blocks, typed),
                view=view.as_json(TEAM_ID, APP_ID, BOT_ID),
            )
        else:
            msg = self._message(user, where)
            el = _find_element(msg.blocks, block_id, action_id)
            if el is None:
                raise PlayError("that control is no longer there")
            assert where.channel is not None
            ephemeral = msg.visible_to is not None
            payload = block_actions(
                user_id=user,
                user_name=person.name,
                action=_action(el, block_id, list(typed.get(f"{block_id}/{action_id}", []))),
                trigger_id=self.ws.issue_trigger(user),
                container={
                    "type": "message",
                    "message_ts": msg.ts,
                    "channel_id": where.channel,
                    "is_ephemeral": ephemeral,
                },
                state=state_of(msg.blocks, typed),
                channel={"id": where.channel, "name": self._channel_name(where.channel)},
                # Slack leaves the message out of clicks in ephemeral messages.
                message=None
                if ephemeral
                else {
                    "type": "message",
                    "ts": msg.ts,
                    "user": msg.user,
                    "text": msg.text,
                    "blocks": msg.blocks,
                },
                response_url=self._response_url(user, where.channel, msg.ts),
            )
        self._check(self.app.interactive(payload), "the click")

    def submit(self, user: str, view_id: str, typed: Typed) -> None:
        """Submit the modal `view_id`; the app's ack decides what the person sees next."""
        person = self._person(user)
        view = self._view(user, view_id)
        blocks = list(view.view.get("blocks") or [])
        payload = view_submission(
            user_id=user,
            user_name=person.name,
            view=view.as_json(TEAM_ID, APP_ID, BOT_ID),
            state=state_of(blocks, typed),
            trigger_id=self.ws.issue_trigger(user),
        )
        reply = self._check(self.app.interactive(payload), "the submission")
        ack = reply.json()
        if ack and isinstance(ack.get("view"), dict):
            # Slack checks the view in an update or push as it checks views.update's.
            problems = view_problems(ack["view"])
            if problems:
                raise PlayError(f"Slack would refuse the app's view: {problems[0]}")
        self.ws.after_submission(user, view_id, ack)

    def close(self, user: str, view_id: str) -> None:
        """Cancel or × on a modal; the app hears of it when the view asked (notify_on_close)."""
        person = self._person(user)
        view = self._view(user, view_id)
        if view.view.get("notify_on_close"):
            payload = view_closed(
                user_id=user, user_name=person.name, view=view.as_json(TEAM_ID, APP_ID, BOT_ID)
            )
            reply = self.app.interactive(payload)
            if reply.status != 200:  # Slack closes the modal whatever the app answers
                log.warning("the app answered view_closed with HTTP %s", reply.status)
        self.ws.close_view(user, view_id)

    def open_home(self, user: str) -> None:
        """The person opened the app's Home tab."""
        self._person(user)
        envelope = app_home_opened(user_id=user, channel_id=self.ws.dm_id(user))
        self._check(self.app.event(envelope), "app_home_opened")

    # --- lookups ---
    def _view(self, user: str, view_id: str) -> OpenView:
        for v in [*self.ws.modals.get(user, []), self.ws.homes.get(user)]:
            if v is not None and v.id == view_id:
                return v
        raise PlayError("that view is closed")

    def _message(self, user: str, where: Where) -> Message:
        if where.channel is None or where.ts is None:
            raise PlayError("a click needs a message or a view")
        for m in self.ws.visible_messages(where.channel, user):
            if m.ts == where.ts:
                return m
        raise PlayError("that message is gone")
