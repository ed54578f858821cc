"""What the tools people train with accept, as checks on exported rows.

- OpenAI's chat fine-tuning data format: each line is `{"messages": [...]}` and nothing else;
  a message has `role` (system, user, assistant) and string `content`, and an assistant
  message may carry `weight` (0 or 1).
- LLaMA-Factory's `sharegpt` converter (and axolotl's ShareGPT mapping): `conversations` of
  `{from, value}`; an optional first `system` turn, then `human` on odd turns and `gpt` on
  even ones, an even number of them (a prompt and its answer). LLaMA-Factory skips a row that
  breaks this as "abnormal" without failing, so the check has to be ours.
- Their `alpaca` layout: `instruction` (prompt), `input` (query, may be empty), `output`
  (response), all strings; LLaMA-Factory joins instruction and input into the user turn.
"""

from __future__ import annotations

from typing import Any

OPENAI_ROLES = ("system", "user", "assistant")


def openai_line_errors(lines: list[Any]) -> list[str]:
    """Every way the lines depart from OpenAI's documented per-line chat format."""
    errors: list[str] = []
    for n, ex in enumerate(lines):
        if not isinstance(ex, dict):
            errors.append(f"{n}: a line must be a JSON object")
            continue
        extra = set(ex) - {"messages"}
        if extra:
            errors.append(f"{n}: keys other than messages at the top level: {sorted(extra)}")
        messages = ex.get("messages")
        if not isinstance(messages, list) or not messages:
            errors.append(f"{n}: missing messages list")
            continue
        for m in messages:
            if not isinstance(m, dict):
                errors.append(f"{n}: a message must be an object")
                continue
            role = m.get("role")
            allowed = {"role", "content"} | ({"weight"} if role == "assistant" else set())
            if set(m) - allowed:
                errors.append(f"{n}: unrecognised message keys {sorted(set(m) - allowed)}")
            if role not in OPENAI_ROLES:
                errors.append(f"{n}: unrecognised role {role!r}")
            if not isinstance(m.get("content"), str) or not m["content"]:
                errors.append(f"{n}: content must be a non-empty string")
            if "weight" in m and m["weight"] not in (0, 1):
                errors.append(f"{n}: weight must be 0 or 1")
        roles = [m.get("role") for m in messages if isinstance(m, dict)]
        if "system" in roles[1:]:
            errors.append(f"{n}: a system message comes first")
        if "assistant" not in roles:
            errors.append(f"{n}: no assistant message")
    return errors


def sharegpt_row_errors(rows: list[dict[str, Any]]) -> list[str]:
    """Rows LLaMA-Factory's sharegpt converter would skip, or axolotl could not map."""
    errors: list[str] = []
    for n, row in enumerate(rows):
        turns = row.get("conversations")
        if not isinstance(turns, list) or not turns:
            errors.append(f"{n}: missing conversations list")
            continue
        if any(not isinstance(t, dict) or set(t) != {"from", "value"} for t in turns):
            errors.append(f"{n}: each turn is exactly {{from, value}}")
            continue
        if turns[0]["from"] == "system":
            turns = turns[1:]
        for i, t in enumerate(turns):
            want = "human" if i % 2 == 0 else "gpt"
            if t["from"] != want:
                errors.append(f"{n}: turn {i} is {t['from']!r}, expected {want!r}")
            if not isinstance(t["value"], str) or not t["value"]:
                errors.append(f"{n}: turn {i} has no text")
        if len(turns) % 2:
            errors.append(f"{n}: an odd number of turns (no answer to the last prompt)")
    return errors


def alpaca_row_errors(rows: list[Any]) -> list[str]:
    """Rows without the string instruction/input/output that the alpaca readers map."""
    errors: list[str] = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            errors.append(f"{n}: an item must be an object")
            continue
        for key in ("instruction", "input", "output"):
            if not isinstance(row.get(key), str):
                errors.append(f"{n}: {key} must be a string")
        if not row.get("instruction") or not row.get("output"):
            errors.append(f"{n}: empty instruction or output")
    return errors
