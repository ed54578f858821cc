"""The made-up people of the sandbox: employees you can play, and the demo's own writers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# Channels of the sandbox workspace: id → name. The digest and export summaries post there.
GENERAL = "C0GENERAL"
DIGEST_CHANNEL = "C0DIGEST"
EXPORT_CHANNEL = "C0EXPORTS"
CHANNELS = {
    GENERAL: "general",
    DIGEST_CHANNEL: "crowdtune-digest",
    EXPORT_CHANNEL: "crowdtune-exports",
}


@dataclass(frozen=True)
class Person:
    """A made-up employee: Slack user id, name, time zone, avatar colour."""

    id: str
    name: str
    tz: str
    colour: str

    def utc_offset(self, now: datetime | None = None) -> int:
        """Seconds east of UTC now (users.info's tz_offset)."""
        off = (now or datetime.now(UTC)).astimezone(ZoneInfo(self.tz)).utcoffset()
        return int(off.total_seconds()) if off else 0

    @property
    def initials(self) -> str:
        """Two letters for the avatar."""
        return "".join(part[0] for part in self.name.split()[:2]).upper()


# Names are invented; the time zones spread over the day so some are always awake.
EMPLOYEES = (
    Person("U0SBADA01", "Ada Okafor", "Europe/London", "#e8912d"),
    Person("U0SBBEN02", "Ben Tanaka", "Asia/Tokyo", "#2bac76"),
    Person("U0SBCAM03", "Camila Reyes", "America/Mexico_City", "#4a8bd9"),
    Person("U0SBDEV04", "Dev Sharma", "Asia/Kolkata", "#b1449b"),
    Person("U0SBELI05", "Elin Berg", "Europe/Stockholm", "#d1544a"),
    Person("U0SBFEM06", "Femi Adeyemi", "Africa/Lagos", "#6b8e23"),
    Person("U0SBGUS07", "Gus Novak", "America/New_York", "#8a6d3b"),
    Person("U0SBHAN08", "Hana Kim", "Australia/Sydney", "#2a9d8f"),
)

# The demo's writers and reviewers: they wrote and reviewed the seed examples; nobody plays them.
DEMO_WRITERS = (
    Person("U0SBDEMOW1", "Iris Demo-Writer", "Europe/Paris", "#999999"),
    Person("U0SBDEMOW2", "Jon Demo-Writer", "America/Chicago", "#999999"),
)
DEMO_REVIEWERS = (
    Person("U0SBDEMOR1", "Kai Demo-Reviewer", "Europe/Berlin", "#999999"),
    Person("U0SBDEMOR2", "Lea Demo-Reviewer", "America/Denver", "#999999"),
)
MAX_PEOPLE = len(EMPLOYEES)


def employees(count: int) -> tuple[Person, ...]:
    """The first `count` employees (1 to MAX_PEOPLE)."""
    if not 1 <= count <= MAX_PEOPLE:
        raise ValueError(f"--people must be between 1 and {MAX_PEOPLE}")
    return EMPLOYEES[:count]
