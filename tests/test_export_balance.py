"""Balancing rules: cap, quota and temperature counts, and their seeded choices."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from exporters.balance import allocate, choose, temperature_counts, temperature_weights
from exporters.run import run_export
from store.categories import set_target
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec

CATS = ["open_qa", "closed_qa", "brainstorming", "classification", "creative_writing"]
sizes = st.dictionaries(st.sampled_from(CATS), st.integers(0, 400), min_size=1)


@given(available=sizes, cap=st.integers(1, 300))
def test_cap_keeps_at_most_cap_per_category(available: dict[str, int], cap: int) -> None:
    counts = allocate("cap", available, cap=cap)
    assert counts == {c: min(n, cap) for c, n in available.items()}


@settings(max_examples=200)
@given(available=sizes, temperature=st.floats(0.2, 20))
def test_temperature_counts_follow_n_to_the_one_over_t(
    available: dict[str, int], temperature: float
) -> None:
    counts = temperature_counts(available, temperature)
    weights = temperature_weights(available, temperature)
    total = sum(counts.values())
    for c, n in available.items():
        assert 0 <= counts[c] <= n
        if n == 0:
            assert counts[c] == 0
        else:
            # Each category's count is its share of the total, to within one example.
            assert abs(counts[c] - weights[c] * total) <= 1 + 1e-6
    if weights:
        # The mix is as large as it can be without repeating: some category is (nearly) used up.
        assert any(counts[c] >= n - 1 for c, n in available.items() if n > 0)
        # Larger categories never get fewer examples than smaller ones.
        ordered = sorted(available, key=lambda c: available[c])
        assert all(counts[a] <= counts[b] + 1 for a, b in pairwise(ordered))


def test_temperature_one_keeps_everything_and_high_temperature_evens_out() -> None:
    available = {"open_qa": 900, "closed_qa": 100}
    assert temperature_counts(available, 1.0) == available
    hot = temperature_counts(available, 1000.0)
    assert hot["open_qa"] <= 102 and hot["closed_qa"] >= 99


@given(
    positions=st.lists(st.integers(0, 10_000), unique=True, max_size=60).map(sorted),
    k=st.integers(0, 70),
    seed=st.integers(0, 5),
)
def test_choose_is_a_seeded_ordered_subset(positions: list[int], k: int, seed: int) -> None:
    picked = choose(positions, k, seed, "open_qa")
    assert picked == choose(positions, k, seed, "open_qa")
    assert len(picked) == min(k, len(positions))
    assert picked == sorted(picked) and set(picked) <= set(positions)


def _manifest(root: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads((root / "manifest.json").read_text())
    return doc


def _sizes(db: TestDatabase) -> None:
    items = (
        [Item("open_qa")] * 30
        + [Item("closed_qa", context="A short reference passage.")] * 12
        + [Item("brainstorming")] * 4
    )
    with db.session() as s:
        insert_items(s, items)


def test_cap_on_the_database(db: TestDatabase, tmp_path: Path) -> None:
    _sizes(db)
    result = run_export(db.sessions, tmp_path / "out", spec(balance="cap", cap=10))
    assert result.counts.by_split["train"] == {"open_qa": 10, "closed_qa": 10, "brainstorming": 4}
    assert result.counts.balanced_out == 22
    again = run_export(db.sessions, tmp_path / "again", spec(balance="cap", cap=10))
    # Same seed, same choice of examples.
    a = (tmp_path / "out" / "dolly" / "train.jsonl").read_text()
    assert a == (tmp_path / "again" / "dolly" / "train.jsonl").read_text()
    assert again.counts.total == 24
    other = run_export(db.sessions, tmp_path / "other", spec(balance="cap", cap=10, seed=7))
    assert other.counts.total == 24
    assert a != (tmp_path / "other" / "dolly" / "train.jsonl").read_text()


def test_quota_follows_category_targets(db: TestDatabase, tmp_path: Path) -> None:
    _sizes(db)
    with db.session() as s:
        set_target(s, "open_qa", 25)
        set_target(s, "closed_qa", 5)
        set_target(s, "brainstorming", 0)
    result = run_export(db.sessions, tmp_path / "q", spec(balance="quota"))
    assert result.counts.by_split["train"] == {"open_qa": 25, "closed_qa": 5}
    assert _manifest(tmp_path / "q")["counts"]["available"] == {  # type: ignore[index]
        "brainstorming": 4,
        "closed_qa": 12,
        "open_qa": 30,
    }


def test_temperature_on_the_database(db: TestDatabase, tmp_path: Path) -> None:
    _sizes(db)
    result = run_export(db.sessions, tmp_path / "t", spec(balance="temperature", temperature=2.0))
    expected = temperature_counts({"open_qa": 30, "closed_qa": 12, "brainstorming": 4}, 2.0)
    assert result.counts.by_split["train"] == expected
    assert expected["brainstorming"] == 4 and expected["open_qa"] < 30
