"""PII and secrets: every kind is found and scrubbed; everyday numbers are left alone."""

from __future__ import annotations

import itertools

import pytest

from store.quality.pii import KINDS, find_pii, pii_kinds, placeholder, scrub_pii

# (kind, text, the exact span that must be found)
CAUGHT = [
    (
        "email",
        "Send the draft to jane.doe+hr@corp.example.co.uk by Friday.",
        "jane.doe+hr@corp.example.co.uk",
    ),
    ("email", "Contact: FRED_smith@mail.example.com", "FRED_smith@mail.example.com"),
    ("phone", "Call me on +1 (415) 555-0132 after lunch.", "+1 (415) 555-0132"),
    ("phone", "Her mobile is 020 7946 0958, London office.", "020 7946 0958"),
    ("phone", "Ring +44 7911 123456 any time.", "+44 7911 123456"),
    ("phone", "Our Berlin desk: +49 30 901820.", "+49 30 901820"),
    ("credit_card", "My card is 4111 1111 1111 1111, expiry 12/27.", "4111 1111 1111 1111"),
    ("credit_card", "Amex 3782-822463-10005 was declined", "3782-822463-10005"),
    ("credit_card", "card number 5555555555554444 please", "5555555555554444"),
    ("ip_address", "The VPN gateway is 10.12.0.254 for everyone.", "10.12.0.254"),
    ("ip_address", "Ping 2001:db8:85a3::8a2e:370:7334 and report.", "2001:db8:85a3::8a2e:370:7334"),
    ("ip_address", "fe80:0:0:0:202:b3ff:fe1e:8329 is link-local", "fe80:0:0:0:202:b3ff:fe1e:8329"),
    ("national_id", "My SSN is 123-45-6789, please keep it safe.", "123-45-6789"),
    ("national_id", "NI number AB 12 34 56 C on the payslip", "AB 12 34 56 C"),
    ("national_id", "passport number: X1234567 expires soon", "X1234567"),
    ("slack_mention", "Ask <@U024BE7LH> about the budget.", "<@U024BE7LH>"),
    ("slack_mention", "cc <@W0123ABCD|maria>", "<@W0123ABCD|maria>"),
    (
        "secret",
        "OPENAI key sk-proj-4fJk29dLx0PqRzT8vWm3nB7c in the env",
        "sk-proj-4fJk29dLx0PqRzT8vWm3nB7c",
    ),
    (
        "secret",
        "bot token xoxb-1234567890-0987654321-AbCdEfGhIjKl",
        "xoxb-1234567890-0987654321-AbCdEfGhIjKl",
    ),
    (
        "secret",
        "user token xoxp-1234567890-0987654321-AbCdEfGhIjKl",
        "xoxp-1234567890-0987654321-AbCdEfGhIjKl",
    ),
    (
        "secret",
        "app token xapp-1-A0123456789-1234567890-abcdef",
        "xapp-1-A0123456789-1234567890-abcdef",
    ),
    ("secret", "aws AKIAIOSFODNN7EXAMPLE in the config", "AKIAIOSFODNN7EXAMPLE"),
    (
        "secret",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 leaked",
        "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    ),
    (
        "secret",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9",
    ),
    (
        "secret",
        "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n"
        "-----END OPENSSH PRIVATE KEY-----\n",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
    ),
    ("secret", "db password = 'Tr0ub4dor&3' for staging", "Tr0ub4dor&3"),
    ("secret", "API_KEY: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
]

# Everyday text that must not be flagged.
CLEAN = [
    "Upgrade to version 1.2.3.4 before Friday; v10.0.0.1 is broken.",
    "Python 3.11.4 and release 2.0.1.7 are supported.",
    "The meeting is on 2024-01-15 at 10:30:45, or 12/05/2023 at 9:15.",
    "It costs $1,299.99 (or €45.50, £3.20) including VAT.",
    "Your order number 1234567890123 has shipped.",
    "ISBN 978-0-306-40615-7, ISBN-10 0-306-40615-2.",
    "About 7,800,000,000 people lived on Earth in 2020.",
    "Pi is 3.14159265358979 and e is 2.718281828459045.",
    "The ratio is 3:2:1 and std::vector is a template.",
    "Room 101, flight 1234, ZIP 94105, years 1939-1945.",
    "Mix 2 cups of flour with 1/2 cup of sugar at 180 degrees.",
    "Use the @here mention sparingly; write to the #general channel.",
    "Our token economy rewards people who write examples.",
    "The password policy asks for 12 characters.",
    "token: bucket algorithm, secret: keep it simple",
    "Password: required for every account.",
]


@pytest.mark.parametrize(("kind", "text", "span"), CAUGHT, ids=lambda v: str(v)[:24])
def test_each_kind_is_found_with_its_exact_span(kind: str, text: str, span: str) -> None:
    findings = find_pii(text)
    assert [(f.kind, f.text) for f in findings] == [(kind, span)]
    f = findings[0]
    assert text[f.start : f.end] == span
    scrubbed = scrub_pii(text)
    assert span not in scrubbed
    assert placeholder(kind) in scrubbed


@pytest.mark.parametrize("text", CLEAN, ids=lambda t: t[:30])
def test_common_numbers_are_not_pii(text: str) -> None:
    assert find_pii(text) == []
    assert scrub_pii(text) == text


def test_every_kind_has_a_caught_example() -> None:
    assert {k for k, _, _ in CAUGHT} == set(KINDS)


def test_scrub_replaces_many_findings_in_one_text() -> None:
    text = (
        "Hi <@U01ABCDEF>, mail ops@example.com or call +1 415 555 0132; the server 192.168.1.20 "
        "uses token xoxb-1111111111-2222222222-abcdefABCDEF."
    )
    assert scrub_pii(text) == (
        "Hi [SLACK_MENTION], mail [EMAIL] or call [PHONE]; the server [IP_ADDRESS] "
        "uses token [SECRET]."
    )
    assert pii_kinds(text) == ["secret", "slack_mention", "email", "ip_address", "phone"]


def test_card_numbers_must_pass_luhn() -> None:
    assert find_pii("card 4111 1111 1111 1112") == []
    assert [f.kind for f in find_pii("card 4012888888881881")] == ["credit_card"]


def test_ssn_allocation_rules() -> None:
    for never_issued in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"):
        assert find_pii(f"number {never_issued}") == [], never_issued


def test_findings_do_not_overlap_and_are_in_text_order() -> None:
    text = "password=4111111111111111 then 10.0.0.1 then a@b.io"
    findings = find_pii(text)
    assert [f.kind for f in findings] == ["secret", "ip_address", "email"]
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
