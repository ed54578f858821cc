"""Stand-ins for Dolly 15k and Alpaca 52k, built at run time from `../shared/datasets`.

Neither real file is on these machines, so benches and tests convert the shared
Self-Instruct and T0 files into exactly those layouts (never committed):

- Dolly layout (JSON lines of `instruction, context, response, category`) from the
  Self-Instruct seed tasks and user-oriented instructions (427 human-written pairs):
  `instances[0].input` → context, `instances[0].output` → response. Category rule:
  `is_classification` → classification, otherwise the importer's own rule for
  uncategorised pairs (`store.importing.infer_category`: summarize → summarization,
  classify → classification, extract → information_extraction, brainstorm/ideas →
  brainstorming, poem/story → creative_writing, with an input → closed_qa, a question →
  open_qa, the rest general_qa).
- Alpaca layout (one JSON array of `instruction, input, output`) and a Dolly-15k-sized Dolly
  layout from the 55,185 T0 prompts: the prompt is split by `split_prompt`, the completion
  (minus `<|endoftext|>`) is the response. The 1,400 TREC rows whose completion is empty are
  dropped (they are not pairs), leaving 53,785; a file of n rows takes every
  (53,785 / n)-th of them, so all 283 templates are represented. Dolly categories come
  from the source dataset (`T0_FAMILY_CATEGORIES`), with templates that ask to *write* new
  text (a story, an article, a question, a dialogue) counted as creative_writing.

- ShareGPT and OpenAI chat layouts (conversations) from the SAMSum chat transcripts that
  T0's `samsum_Summarize_` prompts wrap ("Summarize: " + the dialogue, one `Name: message` a
  line): the dialogues between exactly two people, the first speaker on the user side and
  the other on the assistant side, consecutive messages of one speaker merged, a last
  message without a reply dropped, and dialogues still longer than the store's MAX_TURNS
  left out (`samsum_conversations`). There is no dataset of user/assistant dialogues here.

`python -m bench.datasets OUT_DIR` writes all four files and prints their sizes.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from store.conversations import MAX_TURNS
from store.importing import infer_category

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SEED_TASKS = "self_instruct_seed_tasks.jsonl"
USER_ORIENTED = "self_instruct_user_oriented_instructions.jsonl"
T0 = "t0_train_50k.jsonl.gz"

DOLLY_15K_ROWS = 15_011  # databricks-dolly-15k's record count
ALPACA_52K_ROWS = 52_002  # Stanford Alpaca's record count

# A paragraph this long is the passage a T0 template wraps, not part of its instruction.
MIN_CONTEXT_CHARS = 200
END_OF_TEXT = "<|endoftext|>"

# T0 source dataset (template name prefix) → Dolly category; longest prefix wins.
T0_FAMILY_CATEGORIES: dict[str, str] = {
    "adversarial_qa": "closed_qa",
    "quoref": "closed_qa",
    "duorc": "closed_qa",
    "ropes": "closed_qa",
    "cosmos_qa": "closed_qa",
    "dream": "closed_qa",
    "quartz": "closed_qa",
    "wiqa": "closed_qa",
    "social_i_qa": "closed_qa",
    "qasc": "closed_qa",
    "quarel": "closed_qa",
    "sciq": "closed_qa",
    "wiki_qa": "closed_qa",
    "wiki_hop": "closed_qa",
    "commonsense_qa": "open_qa",
    "kilt_tasks_hotpotqa": "open_qa",
    "cnn_dailymail": "summarization",
    "xsum": "summarization",
    "samsum": "summarization",
    "multi_news": "summarization",
    "gigaword": "summarization",
    "ag_news": "classification",
    "amazon_polarity": "classification",
    "imdb": "classification",
    "rotten_tomatoes": "classification",
    "yelp_review_full": "classification",
    "dbpedia_14": "classification",
    "app_reviews": "classification",
    "glue_mrpc": "classification",
    "glue_qqp": "classification",
    "paws_labeled_final": "classification",
    "trec": "classification",
    "wiki_bio": "information_extraction",
    "common_gen": "creative_writing",
}
# Templates that turn the source around and ask for new text: creative writing.
_WRITING_TEMPLATE = re.compile(
    r"(generate_story|spice_up_story|build_story|write_an_article|write_a_dialogue"
    r"|generate_review|generate_question|expand_reverse_task|generate_first_utterance"
    r"|generate_last_utterance)",
    re.I,
)


@dataclass(frozen=True)
class T0Row:
    """One usable T0 row: the template's prompt, the completion, the template name."""

    prompt: str
    completion: str
    template: str


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every JSON object of a (optionally gzipped) JSON-lines file."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def self_instruct_category(task: dict[str, Any]) -> str:
    """Dolly category of a Self-Instruct task (see the module docstring for the rule)."""
    if task.get("is_classification"):
        return "classification"
    first = task["instances"][0]
    return infer_category(task["instruction"], first["input"])


def self_instruct_dolly(root: Path = SHARED_DATASETS) -> list[dict[str, str]]:
    """The 427 Self-Instruct human-written tasks as Dolly records, seed tasks first."""
    rows: list[dict[str, str]] = []
    for name in (SEED_TASKS, USER_ORIENTED):
        for task in read_jsonl(root / name):
            first = task["instances"][0]
            rows.append(
                {
                    "instruction": task["instruction"],
                    "context": first["input"],
                    "response": first["output"],
                    "category": self_instruct_category(task),
                }
            )
    return rows


def t0_rows(root: Path = SHARED_DATASETS) -> list[T0Row]:
    """The T0 rows that are pairs (non-empty completion), in file order."""
    rows = []
    for obj in read_jsonl(root / T0):
        completion = obj["completion"].replace(END_OF_TEXT, "").strip()
        if completion:
            rows.append(T0Row(obj["prompt"], completion, obj["template"]))
    return rows


def spread(rows: Sequence[T0Row], n: int) -> list[T0Row]:
    """`n` rows taken at an even stride, so every template of the file is represented."""
    if not 0 < n <= len(rows):
        raise ValueError(f"asked for {n} rows; there are {len(rows)}")
    return [rows[i * len(rows) // n] for i in range(n)]


def split_prompt(prompt: str) -> tuple[str, str]:
    """(instruction, input): the longest blank-line paragraph, if long, is the input."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", prompt.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return prompt.strip(), ""
    longest = max(range(len(paragraphs)), key=lambda i: len(paragraphs[i]))
    if len(paragraphs[longest]) < MIN_CONTEXT_CHARS:
        return prompt.strip(), ""
    rest = paragraphs[:longest] + paragraphs[longest + 1 :]
    return "\n\n".join(rest), paragraphs[longest]


def t0_category(template: str) -> str:
    """Dolly category of a T0 template (see the module docstring for the rule)."""
    if _WRITING_TEMPLATE.search(template):
        return "creative_writing"
    family = max(
        (f for f in T0_FAMILY_CATEGORIES if template.startswith(f + "_")), key=len, default=None
    )
    if family is None:
        raise ValueError(f"T0 template {template!r} has no category rule; add its dataset")
    return T0_FAMILY_CATEGORIES[family]


def t0_alpaca(rows: Iterable[T0Row]) -> list[dict[str, str]]:
    """T0 rows as Alpaca records (`instruction, input, output`)."""
    out = []
    for row in rows:
        instruction, context = split_prompt(row.prompt)
        out.append({"instruction": instruction, "input": context, "output": row.completion})
    return out


def t0_dolly(rows: Iterable[T0Row]) -> list[dict[str, str]]:
    """T0 rows as Dolly records (`instruction, context, response, category`)."""
    out = []
    for row in rows:
        instruction, context = split_prompt(row.prompt)
        out.append(
            {
                "instruction": instruction,
                "context": context,
                "response": row.completion,
                "category": t0_category(row.template),
            }
        )
    return out


SAMSUM_TEMPLATE = "samsum_Summarize_"
SAMSUM_PREFIX = "Summarize: "
_SPEAKER = re.compile(r"^([^:\n]{1,40}):\s?(.*)$")


def samsum_dialogues(root: Path = SHARED_DATASETS) -> list[list[tuple[str, str]]]:
    """SAMSum's chat transcripts in T0's `samsum_Summarize_` prompts, as (speaker, message)
    lists in order; a line with no `Name:` continues the message before it."""
    dialogues = []
    for obj in read_jsonl(root / T0):
        if obj["template"] != SAMSUM_TEMPLATE or not obj["prompt"].startswith(SAMSUM_PREFIX):
            continue
        lines: list[tuple[str, str]] = []
        for raw in re.split(r"\r?\n", obj["prompt"][len(SAMSUM_PREFIX) :]):
            match = _SPEAKER.match(raw.strip())
            if match:
                lines.append((match[1].strip(), match[2].strip()))
            elif raw.strip() and lines:
                lines[-1] = (lines[-1][0], f"{lines[-1][1]}\n{raw.strip()}")
        dialogues.append(lines)
    return dialogues


def samsum_conversations(root: Path = SHARED_DATASETS) -> list[list[tuple[str, str]]]:
    """Two-person SAMSum dialogues as (role, text) turns (see the module docstring's rule)."""
    out = []
    for dialogue in samsum_dialogues(root):
        speakers = list(dict.fromkeys(name for name, _ in dialogue))
        if len(speakers) != 2:
            continue
        turns: list[tuple[str, str]] = []
        for name, text in dialogue:
            if not text:
                continue
            role = "user" if name == speakers[0] else "assistant"
            if turns and turns[-1][0] == role:
                turns[-1] = (role, f"{turns[-1][1]}\n{text}")
            else:
                turns.append((role, text))
        if turns and turns[-1][0] == "user":
            turns.pop()
        if 2 <= len(turns) <= MAX_TURNS:
            out.append(turns)
    return out


SHAREGPT_FROM = {"user": "human", "assistant": "gpt"}


def sharegpt_records(conversations: Iterable[list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """ShareGPT's layout (FastChat's `id` and `conversations` of {from, value})."""
    return [
        {
            "id": f"samsum-{n}",
            "conversations": [{"from": SHAREGPT_FROM[r], "value": t} for r, t in turns],
        }
        for n, turns in enumerate(conversations, start=1)
    ]


def openai_records(conversations: Iterable[list[tuple[str, str]]]) -> list[dict[str, Any]]:
    """OpenAI's chat fine-tuning layout: `messages` of {role, content}, nothing else."""
    return [{"messages": [{"role": r, "content": t} for r, t in turns]} for turns in conversations]


def write_jsonl(records: Iterable[dict[str, Any]], path: Path) -> Path:
    """Write JSON lines (Dolly's, ShareGPT's or OpenAI's layout): one object per line."""
    with path.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def write_json_array(records: Sequence[dict[str, str]], path: Path) -> Path:
    """Write Alpaca's layout: one indented JSON array, as `alpaca_data.json` is."""
    with path.open("w", encoding="utf-8") as fh:
        json.dump(list(records), fh, ensure_ascii=False, indent=4)
        fh.write("\n")
    return path


@dataclass(frozen=True)
class StandIns:
    """Paths of the written stand-in files."""

    self_instruct_dolly: Path
    dolly_15k: Path
    alpaca_52k: Path
    t0_alpaca_all: Path


def write_stand_ins(out_dir: Path, root: Path = SHARED_DATASETS) -> StandIns:
    """Write every stand-in into `out_dir` (created if needed) and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = t0_rows(root)
    return StandIns(
        self_instruct_dolly=write_jsonl(self_instruct_dolly(root), out_dir / "self-instruct.jsonl"),
        dolly_15k=write_jsonl(
            t0_dolly(spread(rows, DOLLY_15K_ROWS)), out_dir / "dolly-15k-standin.jsonl"
        ),
        alpaca_52k=write_json_array(
            t0_alpaca(spread(rows, ALPACA_52K_ROWS)), out_dir / "alpaca-52k-standin.json"
        ),
        t0_alpaca_all=write_json_array(t0_alpaca(rows), out_dir / "t0-all-alpaca.json"),
    )


CONTEXT_CATEGORIES = ("closed_qa", "information_extraction", "summarization")
OTHER_CATEGORIES = ("open_qa", "brainstorming", "classification", "creative_writing", "general_qa")


@dataclass(frozen=True)
class SyntheticRow:
    """One example of a large synthetic corpus in Dolly's shape."""

    category: str
    instruction: str
    context: str
    response: str


def synthetic_corpus(n: int, seed: int = 1, root: Path = SHARED_DATASETS) -> Iterator[SyntheticRow]:
    """`n` distinct Dolly-shaped examples remixed from the real T0 and Self-Instruct text.

    Each instruction is a real one (T0's instruction part, or a Self-Instruct task) with about
    a third of its words replaced by words drawn from the corpus's own word frequencies (cut
    to 30 words, Dolly's instructions are short), so texts are distinct while the token
    statistics stay those of real prompts. Three of eight categories carry a context: a
    30-90 word window of a real T0 passage (Dolly's contexts are Wikipedia paragraphs).
    """
    rng = random.Random(seed)
    rows = t0_rows(root)
    instructions: list[list[str]] = []
    passages: list[list[str]] = []
    for row in rows:
        instruction, context = split_prompt(row.prompt)
        if instruction.strip():
            instructions.append(instruction.split()[:30])
        if len(context) >= MIN_CONTEXT_CHARS:
            passages.append(context.split())
    instructions.extend(r["instruction"].split() for r in self_instruct_dolly(root))
    words = [w for ins in instructions for w in ins]
    responses = [r.completion[:300] for r in rows]
    for _ in range(n):
        base = rng.choice(instructions)
        mixed = [rng.choice(words) if rng.random() < 0.33 else w for w in base]
        instruction = " ".join(mixed)
        context = ""
        if rng.random() < 3 / 8:
            category = rng.choice(CONTEXT_CATEGORIES)
            passage = rng.choice(passages)
            size = rng.randint(30, 90)
            start = rng.randrange(max(1, len(passage) - size))
            context = " ".join(passage[start : start + size])
        else:
            category = rng.choice(OTHER_CATEGORIES)
        yield SyntheticRow(category, instruction, context, rng.choice(responses))


def main(argv: Sequence[str] | None = None) -> int:
    """Write the stand-ins and print rows, size and categories of each."""
    parser = argparse.ArgumentParser(prog="python -m bench.datasets", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shared", type=Path, default=SHARED_DATASETS)
    args = parser.parse_args(argv)
    paths = write_stand_ins(args.out_dir, args.shared)
    for path in vars(paths).values():
        if path.suffix == ".jsonl":
            records = read_jsonl(path)
            cats = Counter(r["category"] for r in records)
            detail = ", ".join(f"{k} {v}" for k, v in sorted(cats.items()))
        else:
            records = json.loads(path.read_text(encoding="utf-8"))
            detail = "categories inferred at import"
        size = path.stat().st_size / 1e6
        print(f"{path}: {len(records):,} records, {size:.1f} MB ({detail})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
