"""Licences as the Hugging Face Hub names them, and the conflicts of mixing them.

A licence given in any common spelling ("CC BY-SA 3.0", "Apache 2.0") maps to the Hub's id
when it is one; anything else is `license: other` with a `license_name` slug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The licence ids the Hub accepts in `license:` (hf.co/docs/hub/repositories-licenses).
HUB_LICENCES = frozenset(
    {
        "apache-2.0",
        "mit",
        "openrail",
        "bigscience-openrail-m",
        "creativeml-openrail-m",
        "bigscience-bloom-rail-1.0",
        "bigcode-openrail-m",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "c-uda",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "eupl-1.2",
        "agpl-3.0",
        "gfdl",
        "gpl",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "h-research",
        "intel-research",
        "lppl-1.3c",
        "ms-pl",
        "apple-ascl",
        "apple-amlr",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "openrail++",
        "osl-3.0",
        "postgresql",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "pddl",
        "lgpl-lr",
        "deepfloyd-if-license",
        "fair-noncommercial-research-license",
        "llama2",
        "llama3",
        "llama3.1",
        "llama3.2",
        "llama3.3",
        "llama4",
        "gemma",
    }
)
_NON_COMMERCIAL = frozenset(
    {"c-uda", "h-research", "intel-research", "fair-noncommercial-research-license"}
)
_SHARE_ALIKE = frozenset(
    {"cdla-sharing-1.0", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "odbl"}
    | {"lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr", "eupl-1.1", "eupl-1.2", "mpl-2.0"}
)
# A share-alike licence whose text allows adaptations under these later versions.
_LATER_VERSIONS = {"cc-by-sa-3.0": {"cc-by-sa-4.0"}, "cc-by-nc-sa-3.0": {"cc-by-nc-sa-4.0"}}


def normalise(licence: str) -> str:
    """The Hub-style spelling of a licence name: lower case, words joined by hyphens."""
    return re.sub(r"[\s_]+", "-", licence.strip().lower()).strip("-")


@dataclass(frozen=True)
class Licence:
    """A licence as given, its Hub id (None when it is not one) and what it allows."""

    text: str
    hub_id: str | None

    @classmethod
    def parse(cls, text: str) -> Licence:
        """Recognise `text` as a Hub licence id in any common spelling, or keep it as other."""
        key = normalise(text)
        return cls(text, key if key in HUB_LICENCES else None)

    @property
    def non_commercial(self) -> bool:
        """True when the licence forbids commercial use."""
        h = self.hub_id or ""
        return "-nc" in h or h in _NON_COMMERCIAL

    @property
    def share_alike(self) -> bool:
        """True when adaptations must be shared under the same licence."""
        h = self.hub_id or ""
        return "-sa-" in h or h.endswith("-sa") or h in _SHARE_ALIKE

    @property
    def commercial_use(self) -> bool:
        """A known licence that allows commercial use (an unknown one says nothing)."""
        return self.hub_id is not None and not self.non_commercial

    @property
    def slug(self) -> str:
        """A machine-readable name for `license_name` (the Hub wants an id, not prose)."""
        return re.sub(r"[^a-z0-9.]+", "-", self.text.lower()).strip("-.") or "unnamed"

    def terms(self) -> str:
        """What the licence asks of a dataset that mixes it in, in a few words."""
        if self.non_commercial and self.share_alike:
            return "non-commercial, share-alike"
        if self.non_commercial:
            return "non-commercial"
        if self.share_alike:
            return "share-alike"
        return ""

    def allows_adaptation_under(self, other: Licence) -> bool:
        """Whether rows under this licence may be released under `other`."""
        if self.non_commercial and other.commercial_use:
            return False
        if self.share_alike:
            return other.hub_id is not None and (
                other.hub_id == self.hub_id
                or other.hub_id in _LATER_VERSIONS.get(self.hub_id or "", ())
            )
        return True


def hub_licence_fields(licence: str) -> dict[str, str]:
    """The card's licence keys: `license: ID`, or `license: other` + name and link."""
    lic = Licence.parse(licence)
    if lic.hub_id is not None:
        return {"license": lic.hub_id}
    return {"license": "other", "license_name": lic.slug, "license_link": "LICENSE"}


@dataclass(frozen=True)
class LicenceCheck:
    """Rows of the selection whose licence asks something of the export, and conflicts."""

    notable: dict[str, int]  # licence text -> rows, for NC or SA licences
    conflicts: dict[str, int]  # licence text -> rows that the export licence cannot carry

    def warnings(self) -> list[str]:
        """One line per notable licence: how many rows and what it asks."""
        return [
            f"{n:,} selected row(s) are under {text} ({Licence.parse(text).terms()})"
            for text, n in sorted(self.notable.items())
        ]


def check_licences(row_licences: Mapping[str | None, int], export_licence: str) -> LicenceCheck:
    """Which row licences are non-commercial or share-alike, and which the export's conflicts
    with (only a known commercial-use export licence can conflict; others are warned about)."""
    target = Licence.parse(export_licence)
    notable: dict[str, int] = {}
    conflicts: dict[str, int] = {}
    for text, n in row_licences.items():
        if not text:
            continue
        lic = Licence.parse(text)
        if not (lic.non_commercial or lic.share_alike):
            continue
        if lic.hub_id is not None and lic.hub_id == target.hub_id:
            continue  # exported under the very licence the rows carry
        notable[text] = notable.get(text, 0) + n
        if target.commercial_use and not lic.allows_adaptation_under(target):
            conflicts[text] = conflicts.get(text, 0) + n
    return LicenceCheck(notable, conflicts)
