"""Personal data and secrets in free text: find them, or replace them with `[KIND]` placeholders.

Phone numbers are found by `phonenumbers` (Google's libphonenumber: validates real numbering
plans and already ignores dates, times and page ranges). The rest are tight patterns with a
second check each (Luhn and issuer prefixes for cards, `ipaddress` for IPs, SSN/NINO
allocation rules), because a false alarm makes people click through warnings without reading.
Presidio was not used: it needs spaCy models downloaded at run time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers

EMAIL = "email"
PHONE = "phone"
CREDIT_CARD = "credit_card"
IP_ADDRESS = "ip_address"
NATIONAL_ID = "national_id"
SLACK_MENTION = "slack_mention"
SECRET = "secret"  # noqa: S105 - the name of a kind, not a password

# Earlier kinds win where two findings overlap (a token inside `password=` is a secret, not a
# phone number; a card number is not also a phone number).
KINDS: tuple[str, ...] = (
    SECRET,
    SLACK_MENTION,
    EMAIL,
    CREDIT_CARD,
    NATIONAL_ID,
    IP_ADDRESS,
    PHONE,
)
# Regions whose national (no "+") phone formats are recognised; "+"-prefixed numbers always are.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB")


@dataclass(frozen=True)
class PiiFinding:
    """One piece of personal data or secret: its kind and where it is in the text."""

    kind: str
    start: int
    end: int
    text: str


_SECRET_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        re.S,
    ),
    re.compile(r"\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{20,}"),  # OpenAI/Anthropic-style
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),  # Stripe
    re.compile(r"\bxox[abposre]-[A-Za-z0-9\-]{10,}"),  # Slack bot/user/legacy tokens
    re.compile(r"\bxapp-\d-[A-Za-z0-9\-]{10,}"),  # Slack app-level token
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"),  # GitLab
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"),  # Google API key
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),  # JWT
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
)
# `password = hunter2`, `api_key: "abc…"`: only the value is the secret.
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b(?:password|passwd|pwd|passphrase|secret|client_secret|api[_\-]?key|"
    r"access[_\-]?key|auth[_\-]?token|access[_\-]?token|token)\b\s*[:=]\s*[\"']?"
    # A value with a digit or symbol: "token: bucket algorithm" is prose, "pwd=hunter2" is not.
    r"(?P<value>(?=[^\s\"',;]*[\d!@#$%^&*_+=/~])[^\s\"',;]{6,})"
)
_SLACK_MENTION = re.compile(r"<@[UW][A-Z0-9]{2,}(?:\|[^>]*)?>")
_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}\b"
)
# 13-19 digits, optionally in groups split by one kind of separator.
_CARD = re.compile(r"(?<![\d.,\-])\d(?:[ \-]?\d){12,18}(?![\d\-]|[.,]\d)")
_CARD_PREFIX = re.compile(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|35|6(?:011|5|4[4-9]|22))")
_SSN = re.compile(r"(?<![\d\-])(?!000|666|9\d\d)\d{3}([\- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d\-])")
# UK National Insurance number: two letters (with the excluded prefixes), six digits, A-D.
_NINO = re.compile(
    r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
)
# Any id-like value right after a word that says it is a national id.
_LABELLED_ID = re.compile(
    r"(?i)\b(?:ssn|social security(?: number| no\.?)?|national insurance(?: number| no\.?)?|"
    r"passport(?: number| no\.?)?|tax id|tin|sin|nino|personnummer|aadhaar|id number)"
    r"\s*(?:is|:|#|=)?\s*(?P<value>(?=[A-Z0-9\- ]*\d)[A-Z0-9][A-Z0-9\-]{4,18}[A-Z0-9])\b"
)
_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w]|\.\d)"
)
_VERSION_BEFORE = re.compile(r"(?i)(?:\b(?:version|ver|release|build|firmware|v)\.?\s*|v)$")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _secrets(text: str) -> Iterator[tuple[int, int]]:
    for pattern in _SECRET_PATTERNS:
        for m in pattern.finditer(text):
            yield m.start(), m.end()
    for m in _ASSIGNED_SECRET.finditer(text):
        yield m.start("value"), m.end("value")


def _regex(pattern: re.Pattern[str]) -> Callable[[str], Iterator[tuple[int, int]]]:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for m in pattern.finditer(text):
            yield m.start(), m.end()

    return find


def _cards(text: str) -> Iterator[tuple[int, int]]:
    for m in _CARD.finditer(text):
        raw = m.group()
        seps = {c for c in raw if not c.isdigit()}
        if len(seps) > 1:
            continue
        digits = "".join(c for c in raw if c.isdigit())
        if _CARD_PREFIX.match(digits) and _luhn_ok(digits):
            yield m.start(), m.end()


def _national_ids(text: str) -> Iterator[tuple[int, int]]:
    for pattern in (_SSN, _NINO):
        for m in pattern.finditer(text):
            yield m.start(), m.end()
    for m in _LABELLED_ID.finditer(text):
        yield m.start("value"), m.end("value")


def _ips(text: str) -> Iterator[tuple[int, int]]:
    for m in _IPV4.finditer(text):
        # "version 1.2.3.4", "v10.0.0.1": dotted quads that are versions, not addresses.
        if _VERSION_BEFORE.search(text[max(0, m.start() - 16) : m.start()]):
            continue
        yield m.start(), m.end()
    for m in _IPV6.finditer(text):
        raw = m.group()
        groups = [g for g in raw.split(":") if g]
        # Full 8 groups, or "::"-compressed with at least 3 groups: times like 10:30:00 fail
        # ipaddress, and short forms like "a::b" are too often not addresses.
        if raw.count(":") < 7 and ("::" not in raw or len(groups) < 3):
            continue
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        yield m.start(), m.end()


def _phones(regions: tuple[str, ...]) -> Callable[[str], Iterator[tuple[int, int]]]:
    def find(text: str) -> Iterator[tuple[int, int]]:
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                yield match.start, match.end

    return find


def find_pii(
    text: str, *, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
) -> list[PiiFinding]:
    """Every piece of personal data or secret in `text`, non-overlapping, in text order."""
    finders: dict[str, Callable[[str], Iterator[tuple[int, int]]]] = {
        SECRET: _secrets,
        SLACK_MENTION: _regex(_SLACK_MENTION),
        EMAIL: _regex(_EMAIL),
        CREDIT_CARD: _cards,
        NATIONAL_ID: _national_ids,
        IP_ADDRESS: _ips,
        PHONE: _phones(phone_regions),
    }
    taken: list[tuple[int, int]] = []
    found: list[PiiFinding] = []
    for kind in KINDS:
        for start, end in sorted(set(finders[kind](text))):
            if start >= end or any(start < e and s < end for s, e in taken):
                continue
            taken.append((start, end))
            found.append(PiiFinding(kind, start, end, text[start:end]))
    found.sort(key=lambda f: f.start)
    return found


def placeholder(kind: str) -> str:
    """The text that replaces a finding of this kind: `[EMAIL]`, `[PHONE]`, …"""
    return f"[{kind.upper()}]"


def scrub_pii(text: str, *, phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> str:
    """`text` with each finding replaced by its `[KIND]` placeholder."""
    out: list[str] = []
    pos = 0
    for f in find_pii(text, phone_regions=phone_regions):
        out.append(text[pos : f.start])
        out.append(placeholder(f.kind))
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def pii_kinds(text: str) -> list[str]:
    """The distinct kinds found in `text`, in KINDS order (for messages and flags)."""
    present = {f.kind for f in find_pii(text)}
    return [k for k in KINDS if k in present]
