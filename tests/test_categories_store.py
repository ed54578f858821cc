"""Company categories in the store: validation, guideline versions, retirement, expert sign-off."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from store.catalogue import (
    CategoryFields,
    Experts,
    add_category,
    edit_category,
    guideline_history,
    set_active,
)
from store.categories import get_category, list_categories
from store.enums import ExampleStatus, Verdict
from store.errors import ValidationFailed
from store.experts import (
    Affinity,
    affinity,
    expertise,
    next_for_review_routed,
    set_interests,
    suggest_category,
)
from store.export_queries import ExportFilter, duplicate_ids, export_category_ids, iter_keys
from store.models import Category, CategoryExpert, CategoryGuideline, Example
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.factories import example, person

GUIDELINE = (
    "Write a question a customer could send our support team, and the answer an experienced "
    "agent would give: friendly, precise, and pointing to the right help page."
)
SUPPORT = CategoryFields(
    name="Customer support",
    guideline=GUIDELINE,
    needs_context=False,
    target=300,
    min_instruction_chars=15,
    min_response_chars=30,
    domain="Support",
)
QUORUM = Quorum(2, 2)


def _snapshot(db: TestDatabase) -> tuple[int, int, int, list[tuple[str, str, int]]]:
    with db.session() as s:
        return (
            s.scalar(select(func.count()).select_from(Category)) or 0,
            s.scalar(select(func.count()).select_from(CategoryGuideline)) or 0,
            s.scalar(select(func.count()).select_from(CategoryExpert)) or 0,
            [(c.slug, c.name, c.target) for c in list_categories(s)],
        )


def test_add_category_records_version_one_and_its_examples(db: TestDatabase) -> None:
    with db.session() as s:
        cat = add_category(
            s, "customer_support", SUPPORT, experts=Experts(("UEXP1",)), changed_by="cli"
        )
        assert (cat.guideline_version, cat.active, cat.domain) == (1, True, "Support")
        assert cat.sort_order > get_category(s, "general_qa").sort_order  # listed last
        ex = example(
            s,
            person(s, "UALICE"),
            category="customer_support",
            instruction="How do I reset my password if I lost access to my email?",
            response="Go to the sign-in page, choose 'Forgot password' and follow the steps.",
        )
        assert ex.guideline_version == 1
        assert expertise(s, "UEXP1") == {cat.id}


@pytest.mark.parametrize(
    ("slug", "fields", "field", "message"),
    [
        ("Customer-Support", SUPPORT, "slug", "not a valid slug"),
        ("open_qa", SUPPORT, "slug", "already exists"),
        ("support2", CategoryFields(**{**SUPPORT.__dict__, "name": "open qa"}), "name", "already"),
        ("support3", CategoryFields(**{**SUPPORT.__dict__, "guideline": "  \n"}), "guideline", ""),
        ("support4", CategoryFields(**{**SUPPORT.__dict__, "target": -1}), "target", "zero"),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(
    db: TestDatabase, slug: str, fields: CategoryFields, field: str, message: str
) -> None:
    before = _snapshot(db)
    with pytest.raises(ValidationFailed) as err, db.session() as s:
        add_category(s, slug, fields)
    assert field in err.value.errors and message in err.value.errors[field]
    assert _snapshot(db) == before


def test_bad_expert_ids_and_group_are_refused(db: TestDatabase) -> None:
    before = _snapshot(db)
    with pytest.raises(ValidationFailed) as err, db.session() as s:
        add_category(s, "support", SUPPORT, experts=Experts(("alice",), usergroup="team"))
    assert set(err.value.errors) == {"experts", "expert_group"}
    assert _snapshot(db) == before


def test_editing_the_guideline_keeps_the_old_text_and_links_examples(db: TestDatabase) -> None:
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT)
        first = example(s, person(s, "UALICE"), category="customer_support")
        edit_category(
            s, "customer_support", CategoryFields(guideline=GUIDELINE + " Never promise refunds.")
        )
        edit_category(s, "customer_support", CategoryFields(target=400))  # no new version
        second = example(s, person(s, "UBOB"), category="customer_support")
        first_id, second_id = first.id, second.id
    with db.session() as s:
        history = guideline_history(s, "customer_support")
        assert [(g.version, g.text.endswith("refunds.")) for g in history] == [
            (1, False),
            (2, True),
        ]
        assert history[0].text == GUIDELINE
        cat = get_category(s, "customer_support")
        assert (cat.guideline_version, cat.target) == (2, 400)
        assert s.get(Example, first_id).guideline_version == 1  # type: ignore[union-attr]
        assert s.get(Example, second_id).guideline_version == 2  # type: ignore[union-attr]


def test_a_seeded_category_has_its_guideline_as_version_one(db: TestDatabase) -> None:
    with db.session() as s:
        edit_category(s, "open_qa", CategoryFields(guideline="Ask anything; answer well."))
        versions = [g.version for g in guideline_history(s, "open_qa")]
    assert versions == [1, 2]


def test_retired_category_takes_no_new_work_but_keeps_examples(db: TestDatabase) -> None:
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT)
        kept = example(s, person(s, "UALICE"), category="customer_support").id
        set_active(s, "customer_support", False)
    with db.session() as s:
        assert "customer_support" not in [c.slug for c in list_categories(s, active_only=True)]
        with pytest.raises(ValidationFailed, match="not taking examples"):
            example(s, person(s, "UBOB"), category="customer_support")
    with db.session() as s:
        assert s.get(Example, kept) is not None
        set_active(s, "customer_support", True)
        example(s, person(s, "UBOB"), category="customer_support")


def test_expert_sign_off_needs_an_expert_among_the_approvals(db: TestDatabase) -> None:
    signed = CategoryFields(**{**SUPPORT.__dict__, "expert_sign_off": True})
    with db.session() as s:
        add_category(s, "customer_support", signed, experts=Experts(("UEXP",)))
        writer, a, b, expert = (person(s, u) for u in ("UWRITER", "UANNA", "UBEN", "UEXP"))
        ex_id = example(s, writer, category="customer_support").id
        for reviewer in (a, b):
            out = record_review(
                s, example_id=ex_id, reviewer=reviewer, verdict=Verdict.APPROVE, quorum=QUORUM
            )
        assert (out.decided, out.example.status) == (False, ExampleStatus.PENDING)
        out = record_review(
            s, example_id=ex_id, reviewer=expert, verdict=Verdict.APPROVE, quorum=QUORUM
        )
        assert (out.decided, out.example.status) == (True, ExampleStatus.APPROVED)
        # Rejections need no expert.
        other = example(s, writer, category="customer_support").id
        for reviewer in (a, b):
            out = record_review(
                s,
                example_id=other,
                reviewer=reviewer,
                verdict=Verdict.REJECT,
                reason="wrong",
                quorum=QUORUM,
            )
        assert out.example.status == ExampleStatus.REJECTED


def test_without_sign_off_two_approvals_are_enough(db: TestDatabase) -> None:
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT, experts=Experts(("UEXP",)))
        ex_id = example(s, person(s, "UWRITER"), category="customer_support").id
        for u in ("UANNA", "UBEN"):
            out = record_review(
                s, example_id=ex_id, reviewer=person(s, u), verdict=Verdict.APPROVE, quorum=QUORUM
            )
        assert out.example.status == ExampleStatus.APPROVED


def test_suggestion_weighs_gaps_by_expertise_and_interest() -> None:
    gaps = {"open_qa": 100, "customer_support": 3, "brainstorming": 60}
    ids = {"open_qa": 1, "customer_support": 9, "brainstorming": 5}
    assert suggest_category(gaps, ids, Affinity()) == "open_qa"
    assert suggest_category(gaps, ids, Affinity(expert=frozenset({9}))) == "customer_support"
    assert suggest_category(gaps, ids, Affinity(interested=frozenset({5}))) == "brainstorming"
    # A met target is never suggested, whatever the person knows.
    assert suggest_category({**gaps, "customer_support": 0}, ids, Affinity(frozenset({9}))) == (
        "open_qa"
    )
    assert suggest_category({"open_qa": 0}, ids, Affinity()) is None


def test_experts_are_served_their_domain_first_and_interests_are_stored(
    db: TestDatabase,
) -> None:
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT, experts=Experts(("UEXP",)))
        writer = person(s, "UWRITER")
        older = example(s, writer).id  # open_qa, first in the queue for everyone else
        support = example(s, writer, category="customer_support").id
        expert, other = person(s, "UEXP"), person(s, "UOTHER")
        got = next_for_review_routed(s, expert, affinity(s, expert))
        assert got is not None and got.id == support
        got = next_for_review_routed(s, other, affinity(s, other))
        assert got is not None and got.id == older
        assert set_interests(s, other, ["customer_support", "nonsense"]) == {
            get_category(s, "customer_support").id
        }
        assert affinity(s, other).interested == {get_category(s, "customer_support").id}


def test_export_reads_only_the_chosen_categories_and_their_own_duplicates(
    db: TestDatabase,
) -> None:
    same = "How do I change the billing address on my next invoice?"
    with db.session() as s:
        add_category(s, "customer_support", SUPPORT)
        writer = person(s, "UALICE")
        first = example(s, writer, instruction=same, status=ExampleStatus.APPROVED).id
        second = example(
            s, writer, category="customer_support", instruction=same, status=ExampleStatus.APPROVED
        ).id
        support = get_category(s, "customer_support").id
        assert export_category_ids(s, []) is None  # all active: nothing to filter
        set_active(s, "customer_support", False)
        assert support not in (export_category_ids(s, []) or ())
        assert export_category_ids(s, ["customer_support"]) == (support,)
        everything = ExportFilter()
        only_support = ExportFilter(category_ids=(support,))
        assert duplicate_ids(s, everything) == {second: first}
        # Its twin is in a category left out, so the support example is no duplicate here.
        assert duplicate_ids(s, only_support) == {}
        assert [k[0] for k in iter_keys(s, only_support)] == [second]
        assert [k[0] for k in iter_keys(s, everything)] == [first, second]
