"""Reading a Slack thread for a capture: may the bot read the channel, the thread's messages
(every page of conversations.replies), the permalink, and people's display names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

# Messages per conversations.replies call: Slack's cap for apps distributed outside the
# Marketplace (internal apps may ask more, but 15 works for every kind of app).
REPLIES_PAGE = 15
# Pages read at most (a thread longer than 300 messages is captured from its start).
MAX_PAGES = 20

INVITE = "Invite me with `/invite @crowdtune` in the channel, then use the shortcut again."
NOT_IN_CHANNEL = f":wave: I am not in this channel, so I cannot read the thread. {INVITE}"
PRIVATE = (
    ":lock: I only capture threads of public channels that I am in: a DM or a private "
    "channel is between its members, and I do not read those. Ask the people there to post "
    "the question in a public channel, then invite me there with `/invite @crowdtune`."
)
UNREADABLE = ":warning: Slack would not let me read this thread ({error}). Nothing was saved."


class CannotRead(Exception):
    """The bot may not (or could not) read this channel; `message` tells the person why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Message:
    """One person's message of the thread (raw mrkdwn text)."""

    ts: str
    user: str
    text: str


@dataclass
class Thread:
    """The messages of a thread, people's only, in order; bots' and system messages skipped."""

    messages: list[Message]
    skipped: int = 0
    truncated: bool = False


def is_direct(channel: dict[str, Any]) -> bool:
    """A DM or group DM, by what the payload says (no API call needed)."""
    cid, name = str(channel.get("id") or ""), str(channel.get("name") or "")
    return (
        cid.startswith(("D", "G"))
        or name in ("directmessage", "privategroup")
        or (name.startswith("mpdm-"))
    )


def check_channel(client: WebClient, channel: str) -> None:
    """Raise CannotRead unless this is a public channel the bot is in (conversations.info)."""
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        if error in ("channel_not_found", "missing_scope"):
            raise CannotRead(PRIVATE) from exc
        raise CannotRead(UNREADABLE.format(error=error)) from exc
    if info.get("is_private") or info.get("is_im") or info.get("is_mpim"):
        raise CannotRead(PRIVATE)
    if not info.get("is_member"):
        raise CannotRead(NOT_IN_CHANNEL)


def _person(raw: Any) -> Message | None:
    if not isinstance(raw, dict) or raw.get("subtype") or raw.get("bot_id"):
        return None  # bots, joins, topic changes: nobody's words to capture
    user, ts, text = raw.get("user"), raw.get("ts"), raw.get("text")
    if not (isinstance(user, str) and isinstance(ts, str) and isinstance(text, str)):
        return None
    return Message(ts, user, text)


def read_thread(client: WebClient, channel: str, message: dict[str, Any]) -> Thread:
    """The thread of `message` (every page of conversations.replies), or the message alone
    when it is in no thread."""
    thread_ts = message.get("thread_ts")
    if not isinstance(thread_ts, str) or not thread_ts:
        alone = _person(message)
        return Thread([alone] if alone else [], skipped=0 if alone else 1)
    raw: list[Any] = []
    cursor: str | None = None
    pages = 0
    try:
        while pages < MAX_PAGES:
            resp = client.conversations_replies(
                channel=channel, ts=thread_ts, limit=REPLIES_PAGE, cursor=cursor
            )
            pages += 1
            raw.extend(resp.get("messages") or [])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                cursor = None
                break
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        if error == "not_in_channel":
            raise CannotRead(NOT_IN_CHANNEL) from exc
        if error in ("channel_not_found", "missing_scope"):
            raise CannotRead(PRIVATE) from exc
        raise CannotRead(UNREADABLE.format(error=error)) from exc
    people = [m for m in (_person(r) for r in raw) if m is not None]
    return Thread(people, skipped=len(raw) - len(people), truncated=cursor is not None)


def permalink(client: WebClient, channel: str, ts: str) -> str | None:
    """The message's permalink (chat.getPermalink), None when Slack gives none."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except SlackApiError:
        return None
    return link if isinstance(link, str) else None


@dataclass
class Names:
    """Display names by user id, each looked up once per capture (users.info)."""

    client: WebClient
    known: dict[str, str | None] = field(default_factory=dict)

    def __call__(self, user_id: str) -> str | None:
        """The person's display name (else real name), None when Slack does not know them."""
        if user_id not in self.known:
            try:
                user = self.client.users_info(user=user_id)["user"]
            except SlackApiError:
                self.known[user_id] = None
                return None
            profile = user.get("profile") or {}
            name = profile.get("display_name") or profile.get("real_name") or user.get("name")
            self.known[user_id] = str(name)[:80] if name else None
        return self.known[user_id]
