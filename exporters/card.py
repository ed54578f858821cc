"""The dataset card (README.md) and manifest.json written beside the data files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporters.spec import ExportSpec

MANIFEST = "manifest.json"
CARD = "README.md"
SPLITS = ("train", "test")


@dataclass
class ExportCounts:
    """What went in and what came out, per category and split."""

    available: dict[str, int] = field(default_factory=dict)
    exact_duplicates: int = 0
    near_duplicates: int = 0
    balanced_out: int = 0
    by_split: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SPLITS})
    origins: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows written (each format holds the same rows)."""
        return sum(sum(c.values()) for c in self.by_split.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for the manifest and the Export row."""
        return {
            "total": self.total,
            "train": dict(sorted(self.by_split["train"].items())),
            "test": dict(sorted(self.by_split["test"].items())),
            "origins": dict(sorted(self.origins.items())),
            "available": dict(sorted(self.available.items())),
            "removed": {
                "exact_duplicates": self.exact_duplicates,
                "near_duplicates": self.near_duplicates,
                "balanced_out": self.balanced_out,
            },
        }


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def describe_files(root: Path, rows: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Relative path -> sha256, size and row count (when known) of every file under `root`."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(root).as_posix()
        entry: dict[str, Any] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        if rel in rows:
            entry["rows"] = rows[rel]
        out[rel] = entry
    return out


def write_manifest(
    root: Path, spec: ExportSpec, counts: ExportCounts, files: dict[str, Any], extra: dict[str, Any]
) -> Path:
    """Write manifest.json: spec, counts and the checksum of every other file."""
    doc = {**extra, "spec": spec.manifest(), "counts": counts.as_dict(), "files": files}
    path = root / MANIFEST
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _table(counts: ExportCounts) -> list[str]:
    cats = sorted(set(counts.by_split["train"]) | set(counts.by_split["test"]))
    lines = ["| category | train | test | total |", "|---|---:|---:|---:|"]
    for c in cats:
        tr, te = counts.by_split["train"].get(c, 0), counts.by_split["test"].get(c, 0)
        lines.append(f"| {c} | {tr:,} | {te:,} | {tr + te:,} |")
    tr, te = sum(counts.by_split["train"].values()), sum(counts.by_split["test"].values())
    lines.append(f"| **all** | {tr:,} | {te:,} | {tr + te:,} |")
    return lines


def _quality_filters(spec: ExportSpec) -> str:
    out = ""
    if spec.min_agreement is not None:
        out += (
            f"; only categories whose reviewers agree with Krippendorff's alpha >= "
            f"{spec.min_agreement:g} on verdicts"
        )
    if spec.min_rating is not None:
        out += f"; only examples rated {spec.min_rating:g} or more on average (1–5)"
    return out


def _balance_text(spec: ExportSpec) -> str:
    if spec.balance == "cap":
        return f"at most {spec.cap:,} examples per category (`cap`)"
    if spec.balance == "quota":
        return "each category's target count from the crowdtune catalogue (`quota`)"
    if spec.balance == "temperature":
        return f"category shares proportional to n^(1/T) with T = {spec.temperature:g}"
    return "none: every eligible example"


def _guidelines(versions: dict[str, list[int]]) -> list[str]:
    if not versions:
        return []
    lines = [
        "## Guidelines",
        "",
        "The guideline versions the examples were written under, per category "
        "(`crowdtune categories show SLUG` prints each text):",
        "",
    ]
    for slug, vs in sorted(versions.items()):
        lines.append(f"- {slug}: " + ", ".join(f"v{v}" for v in vs))
    return [*lines, ""]


def write_card(
    root: Path,
    name: str,
    spec: ExportSpec,
    counts: ExportCounts,
    files: list[str],
    origin_lines: list[str] | None = None,
    *,
    guideline_versions: dict[str, list[int]] | None = None,
) -> Path:
    """Write README.md, a dataset card people (and the Hugging Face Hub) can read.

    `origin_lines` is the per-origin table (exporters.card_origins.origin_table).
    """
    origins = ", ".join(f"{o} {n:,}" for o, n in sorted(counts.origins.items())) or "none"
    data = [f for f in files if f.startswith("dolly/")]
    front = ["---", f"license: {spec.licence}", "task_categories:", "- text-generation"]
    if data:
        front += ["configs:", "- config_name: default", "  data_files:"]
        for f in data:
            split = Path(f).stem
            front += [f"  - split: {split}", f"    path: {f}"]
    front.append("---")
    removed = counts.as_dict()["removed"]
    lines = [
        *front,
        "",
        f"# {name}",
        "",
        "Instruction-tuning pairs written and reviewed by employees through crowdtune, a Slack "
        "app that asks people to write or rate instruction/response pairs in the "
        "categories the company chose (Dolly's eight and its own). Only examples approved "
        "by a review quorum are exported; LLM-drafted "
        "examples are included only after a person verified them.",
        "",
        "## Contents",
        "",
        *_table(counts),
        "",
        *([*origin_lines, ""] if origin_lines else []),
        f"- Origin mix: {origins}.",
        f"- Balance: {_balance_text(spec)}; seed {spec.seed}.",
        f"- Split: {spec.test_size:g} of each category held out as `test`, grouped by "
        "author (one person's examples are all on one side); examples without an author "
        "are grouped alone.",
        f"- Filters: origins {', '.join(spec.origins)}; at least {spec.min_reviews} review(s)"
        f"{_quality_filters(spec)}.",
        f"- Removed: {removed['exact_duplicates']:,} exact duplicates, "
        f"{removed['near_duplicates']:,} near-duplicates "
        f"(ROUGE-L F1 threshold {spec.near_dup_threshold}), "
        f"{removed['balanced_out']:,} left out by balancing.",
        f"- Text hygiene: citation brackets stripped: {spec.strip_citations}; "
        f"personal data scrubbed: {spec.scrub_pii}.",
        f"- Licence: {spec.licence}.",
        "",
        *_guidelines(guideline_versions or {}),
        "## Fields",
        "",
        "Every row carries `id` (the example's stable crowdtune id), `category`, `origin` "
        "(human, llm, imported, transformed) and `contributor` (a salted HMAC-SHA256 "
        "pseudonym of the author; never a Slack id; empty when there is no author).",
        "",
        "## Files",
        "",
        *[f"- `{f}`" for f in files],
        f"- `{MANIFEST}`: the export spec, these counts and the sha256 of every file.",
        "",
    ]
    path = root / CARD
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
