"""Resolving a Slack user group into its members (usergroups.users.list), for category experts."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from store.catalogue import USERGROUP_RE, Experts
from store.errors import ValidationFailed

# What Slack's errors mean to the admin who typed the group id.
_ERRORS = {
    "no_such_subteam": "Slack knows no user group {group} (copy its id from the group's page)",
    "subteam_not_found": "Slack knows no user group {group} (copy its id from the group's page)",
    "missing_scope": "the app lacks the usergroups:read scope; reinstall it from manifest.yml",
    "not_authed": "SLACK_BOT_TOKEN is not set, so the user group cannot be looked up",
    "invalid_auth": "SLACK_BOT_TOKEN was refused by Slack, so the user group cannot be looked up",
}


def usergroup_members(client: WebClient, group: str) -> tuple[str, ...]:
    """The user ids in `group`; a ValidationFailed on `expert_group` when Slack says no."""
    if not USERGROUP_RE.fullmatch(group):
        raise ValidationFailed(
            {"expert_group": f"{group!r} is not a user group id (they look like S0123ABCD)"}
        )
    try:
        answer = client.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        error = str(exc.response.get("error"))
        message = _ERRORS.get(error, "Slack refused to list user group {group}: " + error)
        raise ValidationFailed({"expert_group": message.format(group=group)}) from None
    return tuple(str(u) for u in answer.get("users") or [])


def resolve_experts(
    client: WebClient | None, user_ids: tuple[str, ...], group: str | None
) -> Experts:
    """Experts named directly plus the members of `group` (asked from Slack when given)."""
    if not group:
        return Experts(user_ids=user_ids, usergroup=group)
    if client is None:
        raise ValidationFailed(
            {"expert_group": "set SLACK_BOT_TOKEN so the user group can be looked up in Slack"}
        )
    return Experts(
        user_ids=user_ids, usergroup=group, usergroup_members=usergroup_members(client, group)
    )
