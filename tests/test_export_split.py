"""The train/test split: stratified by category, never splitting an author."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.run import run_export
from exporters.split import NO_AUTHOR, TEST, assign_split
from store.enums import Origin
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec

CATS = ["open_qa", "closed_qa", "brainstorming"]


@settings(max_examples=150)
@given(
    rows=st.lists(st.tuples(st.sampled_from(CATS), st.integers(-1, 12)), min_size=0, max_size=120),
    test_size=st.sampled_from([0.1, 0.2, 0.25, 0.5]),
    seed=st.integers(0, 3),
)
def test_authors_are_never_split(rows: list[tuple[str, int]], test_size: float, seed: int) -> None:
    cats = [c for c, _ in rows]
    authors = [a for _, a in rows]
    marks = assign_split(cats, authors, test_size, seed)
    sides: dict[int, set[int]] = defaultdict(set)
    for a, m in zip(authors, marks, strict=True):
        if a != NO_AUTHOR:
            sides[a].add(m)
    assert all(len(s) == 1 for s in sides.values())
    assert marks == assign_split(cats, authors, test_size, seed)


@settings(max_examples=150)
@given(
    per_cat=st.dictionaries(st.sampled_from(CATS), st.integers(1, 60), min_size=1),
    one_each=st.integers(0, 40),
    test_size=st.floats(0.05, 0.6),
    seed=st.integers(0, 3),
)
def test_each_category_is_within_one_example_of_the_ratio(
    per_cat: dict[str, int], one_each: int, test_size: float, seed: int
) -> None:
    # Imported rows (no author) plus people who wrote one example each: grouping allows it.
    cats: list[str] = []
    authors: list[int] = []
    for c, n in per_cat.items():
        cats += [c] * n
        authors += [NO_AUTHOR] * n
    for k in range(one_each):
        cats.append(CATS[k % len(CATS)])
        authors.append(1000 + k)
    marks = assign_split(cats, authors, test_size, seed)
    total, test = Counter(cats), Counter(c for c, m in zip(cats, marks, strict=True) if m == TEST)
    for c, n in total.items():
        assert abs(test[c] - test_size * n) <= 1


def test_prolific_authors_go_whole_and_loose_rows_fill_the_gap() -> None:
    # One author wrote 30 of 100 open_qa rows: the author stays in train, loose rows fill test.
    cats = ["open_qa"] * 100
    authors = [7] * 30 + [NO_AUTHOR] * 70
    marks = assign_split(cats, authors, 0.2, 0)
    assert sum(marks) == 20 and not any(marks[:30])


def test_split_on_the_database(db: TestDatabase, tmp_path: Path) -> None:
    items = [Item("open_qa", f"U{k % 6}") for k in range(24)]
    items += [Item("closed_qa", f"U{k % 6}", context="A shared reference.") for k in range(12)]
    items += [Item("open_qa", None, Origin.IMPORTED) for _ in range(16)]
    items += [Item("closed_qa", None, Origin.TRANSFORMED, context="Text.") for _ in range(8)]
    with db.session() as s:
        insert_items(s, items)
    out = tmp_path / "split"
    result = run_export(db.sessions, out, spec(test_size=0.25, formats=("dolly", "parquet")))
    train = [json.loads(x) for x in (out / "dolly" / "train.jsonl").read_text().splitlines()]
    test = [json.loads(x) for x in (out / "dolly" / "test.jsonl").read_text().splitlines()]
    assert len(train) + len(test) == 60
    assert not {r["id"] for r in train} & {r["id"] for r in test}
    people = lambda rows: {r["contributor"] for r in rows if r["contributor"]}  # noqa: E731
    assert not people(train) & people(test)
    assert people(test)  # whole authors can go to test when that fits the ratio
    for cat, n in {"open_qa": 40, "closed_qa": 20}.items():
        assert abs(sum(r["category"] == cat for r in test) - 0.25 * n) <= 1
    assert result.counts.by_split["test"] == dict(Counter(r["category"] for r in test))
