"""Contributor pseudonyms: a keyed hash of the Slack team and user id, never the raw ids."""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(salt: str, team_id: str | None, user_id: str | None) -> str | None:
    """HMAC-SHA256(salt, "team:user") as 32 hex characters; None when there is no author.

    Stable for one salt, so one person's rows can be grouped across exports, and not
    reversible without the salt (Slack ids are few enough to guess by brute force).
    """
    if not team_id or not user_id:
        return None
    mac = hmac.new(salt.encode("utf-8"), f"{team_id}:{user_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]
