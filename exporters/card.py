"""The dataset card (README.md) and manifest.json written beside the data files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from exporters.licences import Licence, hub_licence_fields
from exporters.spec import ExportSpec
from store.export_queries import Provenance

MANIFEST = "manifest.json"
CARD = "README.md"
DROPPED = "dropped.jsonl"
LICENCE_FILE = "LICENSE"
SPLITS = ("train", "test")
PARQUET = "parquet"

_STRING = {"dtype": "string"}
_META = [
    {"name": "id", "dtype": "int64"},
    {"name": "category", **_STRING},
    {"name": "origin", **_STRING},
    {"name": "contributor", **_STRING},
]


def _strings(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, **_STRING} for n in names]


def _turns(column: str, role: str, content: str) -> dict[str, Any]:
    return {"name": column, "list": _strings(role, content)}


# Each format's columns as `datasets` features (the card's dataset_info), so a loader infers
# the same types from every file, even when a column holds only nulls.
FEATURES: dict[str, list[dict[str, Any]]] = {
    "dolly": [*_strings("instruction", "context", "response"), *_META],
    "alpaca": [*_strings("instruction", "input", "output"), *_META],
    "openai": [_turns("messages", "role", "content")],
    "sharegpt": [_turns("conversations", "from", "value"), *_META],
    "parquet": [
        {"name": "id", "dtype": "int64"},
        *_strings("kind"),
        _turns("messages", "role", "content"),
        *_strings("instruction", "context", "response"),
        *_META[1:],
    ],
}


@dataclass
class ExportCounts:
    """What went in and what came out, per category and split."""

    available: dict[str, int] = field(default_factory=dict)
    exact_duplicates: int = 0
    near_duplicates: int = 0
    balanced_out: int = 0
    pii: int = 0
    # Approved examples the filters left out: "origins" and "min_reviews" -> rows.
    filtered: dict[str, int] = field(default_factory=dict)
    by_split: dict[str, dict[str, int]] = field(default_factory=lambda: {s: {} for s in SPLITS})
    origins: dict[str, int] = field(default_factory=dict)
    # Conversations among the rows, their turns, and how many of them each pair format
    # (Dolly, Alpaca: single-turn pairs only) left out.
    conversations: int = 0
    turns: int = 0
    conversations_left_out: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows exported (the chat formats hold them all; the pair formats hold all less the
        conversations they leave out)."""
        return sum(sum(c.values()) for c in self.by_split.values())

    def as_dict(self) -> dict[str, Any]:
        """JSON form, for the manifest and the Export row."""
        return {
            "total": self.total,
            "train": dict(sorted(self.by_split["train"].items())),
            "test": dict(sorted(self.by_split["test"].items())),
            "origins": dict(sorted(self.origins.items())),
            "kinds": {"pair": self.total - self.conversations, "conversation": self.conversations},
            "conversation_turns": self.turns,
            "conversations_left_out": dict(sorted(self.conversations_left_out.items())),
            "available": dict(sorted(self.available.items())),
            "removed": {
                "exact_duplicates": self.exact_duplicates,
                "near_duplicates": self.near_duplicates,
                "balanced_out": self.balanced_out,
                "pii": self.pii,
                **{f"filter_{k}": v for k, v in sorted(self.filtered.items())},
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
    doc = json.loads(json.dumps(doc))  # plain JSON types only
    path = root / MANIFEST
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class CardFacts:
    """What the card says beyond the spec and the counts: provenance and the review rule."""

    provenance: Provenance
    quorum: int | None = None  # approvals that approve an example (the bot's setting)
    # The per-origin table (exporters.card_origins.origin_table): rows, share, ratings.
    origin_lines: list[str] = field(default_factory=list)
    # Guideline versions the exported examples were written under, per category slug.
    guideline_versions: dict[str, list[int]] = field(default_factory=dict)


def size_category(n: int) -> str:
    """The Hub's size_categories bucket of a row count."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
        (100_000_000, "10M<n<100M"),
    ]
    for limit, label in bounds:
        if n < limit:
            return label
    return "100M<n<1B"


def loadable_layout(
    layout: dict[str, dict[str, str]], rows: dict[str, int]
) -> dict[str, dict[str, str]]:
    """The data files the card offers to load: those holding rows (`datasets` refuses a file
    with none, as Dolly's test split is when every test row is a conversation). An export
    with no rows at all keeps its files, so its card still names every format."""
    if not any(rows.get(path) for files in layout.values() for path in files.values()):
        return layout
    kept = {
        fmt: {split: path for split, path in files.items() if rows.get(path)}
        for fmt, files in layout.items()
    }
    return {fmt: files for fmt, files in kept.items() if files}


def card_configs(layout: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The formats the card lists as `configs`: all JSON ones, and Parquet when it is alone.

    `datasets` picks one builder for a whole folder, from its first config's files: a
    Parquet config beside JSON ones would be read by the JSON builder and fail, so Parquet
    files are loaded with the parquet builder (the card says how) unless they are all there is.
    """
    json_formats = {f: files for f, files in layout.items() if f != PARQUET}
    return json_formats or dict(layout)


def front_matter(
    name: str, spec: ExportSpec, counts: ExportCounts, layout: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """The card's YAML metadata: licence, language, size, configs and features per format."""
    configs = [
        {
            "config_name": fmt,
            **({"default": True} if i == 0 else {}),
            "data_files": [{"split": split, "path": path} for split, path in files.items()],
        }
        for i, (fmt, files) in enumerate(card_configs(layout).items())
    ]
    licence: dict[str, Any] = hub_licence_fields(spec.licence)
    data = DatasetCardData(
        pretty_name=name,
        language=list(spec.languages),
        size_categories=[size_category(counts.total)],
        task_categories=["text-generation"],
        license=licence.pop("license"),
        configs=configs,
        dataset_info=[
            {"config_name": fmt, "features": FEATURES[fmt]} for fmt in card_configs(layout)
        ],
        **licence,
    )
    raw: dict[str, Any] = data.to_dict()  # type: ignore[no-untyped-call]
    # The licence keys together; a JSON round trip so no two places share one object (which
    # YAML would write as &anchors and *aliases).
    order = ["pretty_name", "license", *licence, "language", "size_categories"]
    ordered = {k: raw[k] for k in order if k in raw} | raw
    out: dict[str, Any] = json.loads(json.dumps(ordered))
    return out


def _table(counts: ExportCounts, splits: list[str]) -> list[str]:
    cats = sorted({c for s in splits for c in counts.by_split[s]})
    lines = [
        "| category | " + " | ".join(splits) + " | total |",
        "|---|" + "---:|" * (len(splits) + 1),
    ]
    for c in cats:
        ns = [counts.by_split[s].get(c, 0) for s in splits]
        lines.append(f"| {c} | " + " | ".join(f"{n:,}" for n in ns) + f" | {sum(ns):,} |")
    ns = [sum(counts.by_split[s].values()) for s in splits]
    lines.append("| **all** | " + " | ".join(f"{n:,}" for n in ns) + f" | {sum(ns):,} |")
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


_ORIGIN_WORDS = {
    "human": "written by employees",
    "llm": "drafted by an LLM and verified by a person",
    "imported": "imported from public datasets",
    "transformed": "built from existing NLP datasets by templates",
    "captured": "saved from Slack threads with their authors' consent",
}


def _md(text: str) -> str:
    # User-given text in the prose: no markup of its own, no raw HTML.
    return (
        text.replace("\\", "\\\\")
        .replace("`", "\\`")
        .replace("*", "\\*")
        .replace("_", "\\_")
        .replace("|", "\\|")
        .replace("<", "&lt;")
    )


def _origin_sentence(counts: ExportCounts) -> str:
    parts = [f"{n:,} {_ORIGIN_WORDS.get(o, o)}" for o, n in sorted(counts.origins.items(), key=str)]
    if not parts:
        return "This export holds no examples."
    if not counts.conversations:
        return "Instruction-tuning pairs collected with crowdtune, a Slack app: " + "; ".join(parts)
    pairs = counts.total - counts.conversations
    return (
        f"Instruction-tuning data collected with crowdtune, a Slack app: {pairs:,} "
        f"instruction/response pairs and {counts.conversations:,} conversations "
        f"({counts.turns:,} turns); " + "; ".join(parts)
    )


def _conversation_lines(counts: ExportCounts, layout: dict[str, dict[str, str]]) -> list[str]:
    if not counts.conversations:
        return []
    left_out = counts.conversations_left_out
    chat = [f"`{f}/`" for f in layout if f not in left_out]
    line = (
        f"- Conversations: {counts.conversations:,} of the {counts.total:,} rows are "
        f"conversations ({counts.turns:,} turns in all)"
        + (f"; {', '.join(chat)} hold every turn" if chat else "")
    )
    if left_out:
        # Every pair format leaves out the same conversations: one clause says it for all.
        names = " and ".join(f"`{f}/`" for f in sorted(left_out))
        n = max(left_out.values())
        line += (
            f"; {names} hold single-turn pairs only (a conversation of one exchange is "
            f"written there as a pair) and leave out {n:,} conversation(s), each listed in "
            f"`{DROPPED}` with `formats`"
        )
    return [line + "."]


def _review_lines(counts: ExportCounts, facts: CardFacts) -> list[str]:
    p = facts.provenance
    total = counts.total
    rule = (
        f"an example is approved when {facts.quorum} reviewers approve it"
        if facts.quorum
        else "an example is approved when the review quorum agrees"
    )
    lines = [
        f"- Review: {p.reviewed:,} of {total:,} rows were reviewed by people "
        f"({p.reviews:,} reviews in all); {rule}. Only approved examples are exported; LLM "
        "drafts only after a person verified them."
    ]
    unreviewed = sum(n for o, n in counts.origins.items() if o in ("imported", "transformed"))
    if unreviewed:
        lines.append(
            f"- {unreviewed:,} imported or transformed rows were approved when they were "
            "loaded (curated data) unless they went through review."
        )
    return lines


def _source_lines(facts: CardFacts) -> list[str]:
    sources = facts.provenance.sources
    if not sources:
        return []
    lines = ["", "## Sources and licences", "", "| source | origin | licence | rows |"]
    lines.append("|---|---|---|---:|")
    for (origin, source, licence), n in sorted(sources.items(), key=lambda kv: str(kv[0])):
        lic = _md(licence) if licence else "not recorded"
        terms = Licence.parse(licence).terms() if licence else ""
        lic = f"{lic} ({terms})" if terms else lic
        lines.append(f"| {_md(source)} | {origin} | {lic} | {n:,} |")
    return lines


def _loading_lines(layout: dict[str, dict[str, str]]) -> list[str]:
    configs = card_configs(layout)
    lines = ["## Loading", "", "```python", "from datasets import load_dataset", ""]
    for i, fmt in enumerate(configs):
        lines.append(
            f'ds = load_dataset("path/to/this/folder", "{fmt}")' + ("  # default" * (i == 0))
        )
    if PARQUET in layout and PARQUET not in configs:
        files = ", ".join(f'"{s}": "{p}"' for s, p in layout[PARQUET].items())
        lines.append(f'ds = load_dataset("parquet", data_files={{{files}}})  # in this folder')
    return [*lines, "```", ""]


def _hygiene(spec: ExportSpec) -> str:
    cites = "removed" if spec.strip_citations else "kept"
    if spec.scrub_pii:
        pii = "personal data (e-mails, phone numbers, ids, secrets) masked"
    elif spec.drop_pii:
        pii = "rows with personal data left out"
    else:
        pii = "personal data not masked"
    return f"- Text hygiene: Wikipedia citation brackets {cites}; {pii}."


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


def card_text(
    name: str,
    spec: ExportSpec,
    counts: ExportCounts,
    layout: dict[str, dict[str, str]],
    files: list[str],
    facts: CardFacts,
) -> str:
    """The whole README.md: YAML front matter (PyYAML safe_dump) and prose true to the data."""
    meta = front_matter(name, spec, counts, layout)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    splits = [s for s in SPLITS if any(s in f for f in layout.values())] or ["train"]
    removed = counts.as_dict()["removed"]
    near = (
        f"{removed['near_duplicates']:,} near-duplicates "
        f"(ROUGE-L F1 at or above {spec.near_dup_threshold:g})"
        if spec.near_dup_threshold is not None
        else "no near-duplicate check"
    )
    split_text = (
        f"- Split: {spec.test_size:g} of each category held out as `test`, grouped by "
        "author (one person's examples are all on one side); examples without an author "
        "are grouped alone."
        if "test" in splits
        else "- Split: no test split; every row is in `train`."
    )
    lines = [
        "---",
        front.rstrip("\n"),
        "---",
        "",
        f"# {_md(name)}",
        "",
        _origin_sentence(counts) + ".",
        "",
        "## Contents",
        "",
        *_table(counts, splits),
        "",
        *([*facts.origin_lines, ""] if facts.origin_lines else []),
        "- Origin mix: "
        + (", ".join(f"{o} {n:,}" for o, n in sorted(counts.origins.items())) or "none")
        + ".",
        *_conversation_lines(counts, layout),
        *_review_lines(counts, facts),
        f"- Balance: {_balance_text(spec)}; seed {spec.seed}.",
        split_text,
        f"- Filters: origins {', '.join(spec.origins)}; at least {spec.min_reviews} review(s)"
        f"{_quality_filters(spec)}.",
        f"- Removed: {removed['exact_duplicates']:,} exact duplicates, {near}, "
        f"{removed['balanced_out']:,} left out by balancing, {removed['pii']:,} with personal "
        f"data; each is listed with its reason in `{DROPPED}`.",
        _hygiene(spec),
        *(
            [
                f"- System prompt of the chat formats: {_md(spec.system_prompt)}"
                + (" (a conversation with its own system turn keeps that)" * bool(counts.turns))
            ]
            if spec.system_prompt
            else []
        ),
        f"- Licence of this export: {_md(spec.licence)}.",
        *_source_lines(facts),
        "",
        *_guidelines(facts.guideline_versions),
        "## Fields",
        "",
        "Every row carries `id` (the example's stable crowdtune id), `category`, `origin` "
        "(human, llm, imported, transformed, captured) and `contributor` (a salted "
        "HMAC-SHA256 pseudonym of the author; never a Slack id; null when there is no "
        "author). In `openai/` these are in `{split}.meta.jsonl`, line for line, since "
        "OpenAI's fine-tuning lines hold `messages` only.",
        "",
        *(
            [
                "`parquet/` has `kind` (pair or conversation), `messages` (the chat turns, as "
                "in `openai/`) and, for pairs only, `instruction`, `context` and `response` "
                "(null for conversations).",
                "",
            ]
            if PARQUET in layout
            else []
        ),
        *_loading_lines(layout),
        "## Files",
        "",
        *[f"- `{f}`" for f in files],
        f"- `{MANIFEST}`: the export spec, these counts and the sha256 of every file.",
        "",
    ]
    text = "\n".join(lines)
    DatasetCard(text)  # parses the front matter back: a broken card fails here, not on the Hub
    return text


def write_card(
    root: Path,
    name: str,
    spec: ExportSpec,
    counts: ExportCounts,
    layout: dict[str, dict[str, str]],
    files: list[str],
    facts: CardFacts,
) -> Path:
    """Write README.md (and LICENSE when the licence is not one the Hub knows)."""
    if "license_link" in hub_licence_fields(spec.licence):
        (root / LICENCE_FILE).write_text(
            f"This dataset is released under: {spec.licence}\n", encoding="utf-8"
        )
        files = sorted([*files, LICENCE_FILE])
    path = root / CARD
    path.write_text(card_text(name, spec, counts, layout, files, facts), encoding="utf-8")
    return path
