"""What `transform` can do, as plain data: tasks, input formats, default columns and the
phrasings of each task (generators.transforms uses them; the CLI builds its options from them)."""

from __future__ import annotations

TASKS = ("qa", "summarization", "translation")
FORMATS = ("jsonl", "csv", "tsv", "parquet")

# Roles each task reads and the column paths tried for each, first present wins (the second
# ones are how Hugging Face exports SQuAD and CNN/DailyMail); --column ROLE=PATH sets one.
# A path reaches into nested columns: `answers.text[0]`, `translation.de`.
DEFAULT_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "qa": {
        "context": ("context",),
        "question": ("question",),
        "answer": ("answer", "answers.text[0]"),
    },
    "summarization": {"document": ("document", "article"), "summary": ("summary", "highlights")},
    "translation": {"source": ("source",), "target": ("target",)},
}
DEFAULT_CATEGORY = {
    "qa": "closed_qa",
    "summarization": "summarization",
    "translation": "general_qa",
}

# Several phrasings per task, so the dataset is not one template repeated.
PHRASINGS: dict[str, tuple[str, ...]] = {
    "qa": (
        "Here is a passage and a question about it. {question}",
        "Answer the question using only the text below: {question}",
        "Read the passage and answer this question: {question}",
        "Based on the reference text, {question_lc}",
        "{question} Use the reference text to answer.",
    ),
    "summarization": (
        "Summarize this text.",
        "Write a short summary of the passage below.",
        "What are the main points of this text? Answer in a few sentences.",
        "Give me a brief summary of the following.",
        "Condense this passage into a short paragraph that keeps its key facts.",
    ),
    "translation": (
        "Translate this {source_text} into {target_lang}.",
        "How would you say this in {target_lang}?",
        "Give a {target_lang} translation of the following {source_text}.",
        "Render the {source_text} below in {target_lang}, keeping its meaning and tone.",
    ),
}
