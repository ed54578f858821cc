"""Block Kit as HTML: the blocks and elements the app sends, drawn the way Slack draws them.

Interactive elements carry data attributes (`data-action-id`, `data-block-id`, …) that the
page's script turns into the payload Slack would send; stateful ones are named
`block_id/action_id`, so a submission reads their values back.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.mrkdwn import mrkdwn_html, plain_html


@dataclass(frozen=True)
class Render:
    """What rendering needs beyond the blocks: names for mentions, errors on input blocks."""

    names: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


def _attr(value: object) -> str:
    return html.escape(str(value), quote=True)


def text_html(obj: Any, r: Render) -> str:
    """A text object (mrkdwn or plain_text)."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text") or "")
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(text, r.names)
    return plain_html(text)


def _data(block_id: str, el: dict[str, Any]) -> str:
    return (
        f'data-block-id="{_attr(block_id)}" data-action-id="{_attr(el.get("action_id", ""))}" '
        f'data-type="{_attr(el.get("type", ""))}"'
    )


def _name(block_id: str, el: dict[str, Any]) -> str:
    return _attr(f"{block_id}/{el.get('action_id', '')}")


def _button(block_id: str, el: dict[str, Any], r: Render) -> str:
    style = el.get("style")
    cls = "bk-button" + (f" bk-{style}" if style in ("primary", "danger") else "")
    if el.get("url"):
        return (
            f'<a class="{cls}" href="{_attr(el["url"])}" target="_blank" '
            f'rel="noopener noreferrer">{text_html(el.get("text"), r)}</a>'
        )
    return (
        f'<button type="button" class="{cls}" {_data(block_id, el)} '
        f'data-value="{_attr(el.get("value", ""))}">{text_html(el.get("text"), r)}</button>'
    )


def _options(el: dict[str, Any]) -> list[dict[str, Any]]:
    opts = list(el.get("options") or [])
    for group in el.get("option_groups") or []:
        opts.extend(group.get("options") or [])
    return opts


def _select(block_id: str, el: dict[str, Any], r: Render, *, dispatch: bool) -> str:
    initial = (el.get("initial_option") or {}).get("value")
    placeholder = (el.get("placeholder") or {}).get("text") or "Select an item"
    opts = [
        f'<option value="" disabled{" selected" if initial is None else ""}>'
        f"{html.escape(str(placeholder))}</option>"
    ]
    for o in _options(el):
        value = str(o.get("value"))
        sel = " selected" if value == initial else ""
        label = html.escape(str((o.get("text") or {}).get("text", value)))
        opts.append(f'<option value="{_attr(value)}"{sel}>{label}</option>')
    flag = ' data-dispatch="1"' if dispatch else ""
    return (
        f'<select class="bk-select" name="{_name(block_id, el)}" {_data(block_id, el)}{flag}>'
        + "".join(opts)
        + "</select>"
    )


def _choices(block_id: str, el: dict[str, Any], r: Render, *, dispatch: bool) -> str:
    kind = "checkbox" if el.get("type") == "checkboxes" else "radio"
    initial = {str(o.get("value")) for o in el.get("initial_options") or []}
    if isinstance(el.get("initial_option"), dict):
        initial.add(str(el["initial_option"].get("value")))
    flag = ' data-dispatch="1"' if dispatch else ""
    rows = []
    for o in _options(el):
        value = str(o.get("value"))
        checked = " checked" if value in initial else ""
        desc = o.get("description")
        extra = f'<div class="bk-desc">{text_html(desc, r)}</div>' if desc else ""
        rows.append(
            f'<label class="bk-choice"><input type="{kind}" name="{_name(block_id, el)}" '
            f'value="{_attr(value)}"{checked} {_data(block_id, el)}{flag}>'
            f"<span>{text_html(o.get('text'), r)}{extra}</span></label>"
        )
    return f'<div class="bk-choices">{"".join(rows)}</div>'


def _text_input(block_id: str, el: dict[str, Any]) -> str:
    value = str(el.get("initial_value") or "")
    placeholder = _attr((el.get("placeholder") or {}).get("text") or "")
    limit = el.get("max_length")
    maxlen = f' maxlength="{int(limit)}"' if isinstance(limit, int) else ""
    common = (
        f'name="{_name(block_id, el)}" {_data(block_id, el)} placeholder="{placeholder}"{maxlen}'
    )
    if el.get("multiline"):
        return f'<textarea class="bk-input" rows="4" {common}>{html.escape(value)}</textarea>'
    return f'<input class="bk-input" type="text" {common} value="{_attr(value)}">'


def element_html(block_id: str, el: dict[str, Any], r: Render, *, dispatch: bool = False) -> str:
    """One element (button, select, checkboxes, radios, text input, image)."""
    kind = el.get("type")
    if kind == "button":
        return _button(block_id, el, r)
    if kind == "static_select":
        return _select(block_id, el, r, dispatch=dispatch)
    if kind in ("checkboxes", "radio_buttons"):
        return _choices(block_id, el, r, dispatch=dispatch)
    if kind == "plain_text_input":
        return _text_input(block_id, el)
    if kind == "image":
        return (
            f'<img class="bk-thumb" src="{_attr(el.get("image_url", ""))}" '
            f'alt="{_attr(el.get("alt_text", ""))}">'
        )
    return f'<span class="bk-unsupported">[{html.escape(str(kind))}]</span>'


def _section(block: dict[str, Any], bid: str, r: Render) -> str:
    body = f'<div class="bk-text">{text_html(block.get("text"), r)}</div>'
    fields = block.get("fields") or []
    if fields:
        cells = "".join(f'<div class="bk-field">{text_html(f, r)}</div>' for f in fields)
        body += f'<div class="bk-fields">{cells}</div>'
    acc = block.get("accessory")
    side = (
        f'<div class="bk-accessory">{element_html(bid, acc, r, dispatch=True)}</div>'
        if isinstance(acc, dict)
        else ""
    )
    return f'<div class="bk-section"><div class="bk-main">{body}</div>{side}</div>'


def _input(block: dict[str, Any], bid: str, r: Render) -> str:
    el = block.get("element") or {}
    optional = ' <span class="bk-optional">(optional)</span>' if block.get("optional") else ""
    hint = block.get("hint")
    hint_html = f'<div class="bk-hint">{text_html(hint, r)}</div>' if hint else ""
    error = r.errors.get(bid)
    err_html = f'<div class="bk-error" role="alert">{plain_html(error)}</div>' if error else ""
    cls = "bk-input-block" + (" bk-has-error" if error else "")
    required = "" if block.get("optional") else ' data-required="1"'
    return (
        f'<div class="{cls}" data-block-id="{_attr(bid)}"{required}>'
        f'<label class="bk-label">{text_html(block.get("label"), r)}{optional}</label>'
        f"{element_html(bid, el, r, dispatch=bool(block.get('dispatch_action')))}"
        f"{err_html}{hint_html}</div>"
    )


def block_html(block: dict[str, Any], r: Render) -> str:
    """One block."""
    kind = block.get("type")
    bid = str(block.get("block_id") or "")
    if kind == "section":
        return _section(block, bid, r)
    if kind == "header":
        return f'<div class="bk-header">{text_html(block.get("text"), r)}</div>'
    if kind == "divider":
        return '<hr class="bk-divider">'
    if kind == "context":
        items = []
        for el in block.get("elements") or []:
            if el.get("type") == "image":
                items.append(element_html(bid, el, r))
            else:
                items.append(f"<span>{text_html(el, r)}</span>")
        return f'<div class="bk-context">{"".join(items)}</div>'
    if kind == "image":
        title = block.get("title")
        cap = f'<div class="bk-image-title">{text_html(title, r)}</div>' if title else ""
        return (
            f'<div class="bk-image">{cap}<img src="{_attr(block.get("image_url", ""))}" '
            f'alt="{_attr(block.get("alt_text", ""))}"></div>'
        )
    if kind == "actions":
        els = "".join(element_html(bid, el, r, dispatch=True) for el in block.get("elements") or [])
        return f'<div class="bk-actions">{els}</div>'
    if kind == "input":
        return _input(block, bid, r)
    return f'<div class="bk-unsupported">[{html.escape(str(kind))} block]</div>'


def blocks_html(blocks: list[dict[str, Any]], r: Render | None = None) -> str:
    """Every block, in order."""
    r = r or Render()
    return "".join(block_html(b, r) for b in blocks if isinstance(b, dict))
