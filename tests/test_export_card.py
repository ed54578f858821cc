"""The dataset card: YAML written by PyYAML, licences as the Hub expects, prose true to the data."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import DatasetDict, load_dataset
from huggingface_hub import DatasetCard

from exporters.licences import Licence, check_licences, hub_licence_fields
from exporters.run import run_export
from store.enums import Origin, Verdict
from store.reviews import Quorum, record_review
from tests.dbs import TestDatabase
from tests.export_data import Item, insert_items, spec
from tests.factories import example, person
from tests.test_export_clients import front_matter

TRICKY = 'internal: do not "share" #1'


def _seed(db: TestDatabase) -> None:
    with db.session() as s:
        insert_items(
            s,
            [Item("open_qa", f"U{k}") for k in range(3)]
            + [
                Item("closed_qa", None, Origin.IMPORTED, context=f"Passage {k}.", **prov)  # type: ignore[arg-type]
                for k, prov in enumerate(
                    [{"source_name": "databricks-dolly-15k", "licence": "CC BY-SA 3.0"}] * 2
                    + [{"source_name": "squad", "licence": "cc-by-sa-4.0"}]
                )
            ],
        )
        writer, r1, r2 = person(s, "W"), person(s, "R1"), person(s, "R2")
        reviewed = example(s, writer)
        for r in (r1, r2):
            record_review(
                s, example_id=reviewed.id, reviewer=r, verdict=Verdict.APPROVE, quorum=Quorum(2, 2)
            )


def test_a_licence_with_quotes_hashes_and_colons_round_trips(
    db: TestDatabase, tmp_path: Path
) -> None:
    _seed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(licence=TRICKY, formats=("dolly",)))
    meta = front_matter(out)
    assert meta["license"] == "other"
    assert meta["license_name"] == "internal-do-not-share-1"
    assert meta["license_link"] == "LICENSE"
    text = (out / "README.md").read_text()
    assert "&id" not in text and "*id" not in text  # plain YAML: no anchors or aliases
    assert "- `LICENSE`" in text
    assert (out / "LICENSE").read_text() == f"This dataset is released under: {TRICKY}\n"
    assert DatasetCard.load(out / "README.md").data.to_dict()["license"] == "other"
    ds = load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert isinstance(ds, DatasetDict) and len(ds["train"]) == 7
    assert 'Licence of this export: internal: do not "share" #1.' in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("given", "hub"),
    [("CC BY-SA 3.0", "cc-by-sa-3.0"), ("Apache 2.0", "apache-2.0"), ("MIT", "mit")],
)
def test_known_licences_go_in_license_as_hub_ids(given: str, hub: str) -> None:
    assert hub_licence_fields(given) == {"license": hub}
    assert hub_licence_fields("proprietary") == {
        "license": "other",
        "license_name": "proprietary",
        "license_link": "LICENSE",
    }


def test_front_matter_has_language_size_pretty_name_and_a_config_per_format(
    db: TestDatabase, tmp_path: Path
) -> None:
    _seed(db)
    out = tmp_path / 'week "48": #1'
    run_export(
        db.sessions,
        out,
        spec(licence="cc-by-sa-4.0", languages=("en", "de"), formats=("dolly", "sharegpt")),
    )
    meta = front_matter(out)
    assert meta["license"] == "cc-by-sa-4.0" and "license_name" not in meta
    assert not (out / "LICENSE").exists()
    assert meta["language"] == ["en", "de"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["pretty_name"] == 'week "48": #1'
    assert meta["task_categories"] == ["text-generation"]
    assert [c["config_name"] for c in meta["configs"]] == ["dolly", "sharegpt"]
    assert [c["config_name"] for c in meta["dataset_info"]] == ["dolly", "sharegpt"]


def _prose(out: Path) -> str:
    return (out / "README.md").read_text().split("---\n", 2)[2]


def test_card_prose_is_true_to_the_data(db: TestDatabase, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(licence="cc-by-sa-4.0"), quorum=2)
    prose = _prose(out)
    assert "3 imported from public datasets" in prose and "4 written by employees" in prose
    assert "Origin mix: human 4, imported 3." in prose
    assert "1 of 7 rows were reviewed by people (2 reviews in all)" in prose
    assert "approved when 2 reviewers approve it" in prose
    assert "| databricks-dolly-15k | imported | CC BY-SA 3.0 (share-alike) | 2 |" in prose
    assert "| squad | imported | cc-by-sa-4.0 (share-alike) | 1 |" in prose
    assert "True" not in prose and "False" not in prose
    assert "Wikipedia citation brackets removed; personal data not masked." in prose


def test_card_of_human_rows_only_mentions_no_imports(db: TestDatabase, tmp_path: Path) -> None:
    _seed(db)
    out = tmp_path / "ds"
    run_export(db.sessions, out, spec(origins=("human",), scrub_pii=True, strip_citations=False))
    prose = _prose(out)
    assert "imported" not in prose.split("## Fields")[0].replace("origins human", "")
    assert "Sources and licences" not in prose
    assert "citation brackets kept; personal data (e-mails" in prose


def test_licence_conflicts() -> None:
    rows: dict[str | None, int] = {"CC BY-NC 4.0": 5, "cc-by-sa-3.0": 2, "mit": 9, None: 4}
    assert Licence.parse("CC BY-NC 4.0").non_commercial
    check = check_licences(rows, "apache-2.0")
    assert check.notable == {"CC BY-NC 4.0": 5, "cc-by-sa-3.0": 2}
    assert check.conflicts == {"CC BY-NC 4.0": 5, "cc-by-sa-3.0": 2}
    assert check_licences(rows, "cc-by-sa-4.0").conflicts == {"CC BY-NC 4.0": 5}
    # An unknown export licence says nothing about commercial use: warned, not refused.
    internal = check_licences(rows, "proprietary")
    assert internal.conflicts == {} and len(internal.warnings()) == 2
    assert check_licences({"cc-by-nc-4.0": 1}, "cc-by-nc-4.0").notable == {}
    assert internal.warnings()[0] == "5 selected row(s) are under CC BY-NC 4.0 (non-commercial)"
