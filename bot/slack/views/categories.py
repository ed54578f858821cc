"""The admins' category modals: the list (Edit, New) and the form (guideline with a preview)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.escape import clip, escape_mrkdwn
from store.catalogue import GUIDELINE_MAX
from store.models import Category

LIST_CALLBACK = "categories_list"
FORM_CALLBACK = "category_save"
NEW_ACTION = "category_new"
EDIT_ACTION = "category_edit"
PREVIEW_ACTION = "category_preview"
# A modal holds 100 blocks; the list keeps two for its header and one for "and N more".
LIST_MAX = 95
OPT_CONTEXT, OPT_SIGN_OFF, OPT_ACTIVE = "needs_context", "expert_sign_off", "active"
# Store field names → the form's input blocks, so errors land on the right field.
FIELD_BLOCKS = {
    "slug": "slug",
    "name": "name",
    "guideline": "guideline",
    "target": "target",
    "min_instruction_chars": "min_instruction",
    "min_response_chars": "min_response",
    "domain": "domain",
    "experts": "experts",
    "expert_group": "expert_group",
}


@dataclass(frozen=True)
class CategoryForm:
    """What the form holds, as typed (numbers stay text until the submission is read)."""

    slug: str = ""
    name: str = ""
    guideline: str = ""
    target: str = ""
    min_instruction: str = "10"
    min_response: str = "2"
    domain: str = ""
    experts: tuple[str, ...] = ()
    expert_group: str = ""
    needs_context: bool = False
    expert_sign_off: bool = False
    active: bool = True


@dataclass(frozen=True)
class FormMeta:
    """The form's private_metadata: which category (None: a new one) and the list's view id."""

    slug: str | None = None
    root_view_id: str | None = None

    def dumps(self) -> str:
        """JSON for private_metadata."""
        return json.dumps({"slug": self.slug, "root": self.root_view_id})

    @classmethod
    def loads(cls, raw: str | None) -> FormMeta:
        """Read private_metadata back."""
        data = json.loads(raw) if raw else {}
        return cls(slug=data.get("slug"), root_view_id=data.get("root"))


def form_of(category: Category, experts: Sequence[str]) -> CategoryForm:
    """The form filled with a category's current settings."""
    return CategoryForm(
        slug=category.slug,
        name=category.name,
        guideline=category.guideline,
        target=str(category.target),
        min_instruction=str(category.min_instruction_chars),
        min_response=str(category.min_response_chars),
        domain=category.domain or "",
        experts=tuple(experts),
        expert_group=category.expert_usergroup or "",
        needs_context=category.needs_context,
        expert_sign_off=category.expert_sign_off,
        active=category.active,
    )


def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}, **extra}


def _button(text: str, action_id: str, value: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        **extra,
    }


def category_line(category: Category, approved: int, experts: int) -> str:
    """One category in the list: name, slug, state, progress, guideline version, experts."""
    state = "active" if category.active else "*retired*"
    parts = [
        f"*{escape_mrkdwn(category.name)}* `{escape_mrkdwn(category.slug)}` · {state}",
        f"{approved}/{category.target} approved · guideline v{category.guideline_version}",
    ]
    extra = []
    if category.domain:
        extra.append(f"domain: {escape_mrkdwn(category.domain)}")
    if experts:
        extra.append(f"{experts} expert(s)")
    if category.expert_sign_off:
        extra.append("expert sign-off")
    if extra:
        parts.append(" · ".join(extra))
    return "\n".join(parts)


def categories_modal(
    categories: Sequence[Category], approved: dict[str, int], experts: dict[int, int]
) -> dict[str, Any]:
    """The list of every category, each with Edit, and a New category button."""
    blocks: list[dict[str, Any]] = [
        _section(
            f"*{len(categories)} categories.* Retired ones take no new work and keep their "
            "examples (`crowdtune export --categories SLUG` still exports them)."
        ),
        {
            "type": "actions",
            "block_id": "categories_actions",
            "elements": [_button("New category", NEW_ACTION, style="primary")],
        },
    ]
    for cat in categories[:LIST_MAX]:
        line = category_line(cat, approved.get(cat.slug, 0), experts.get(cat.id, 0))
        blocks.append(
            _section(
                line,
                block_id=f"cat_{cat.slug}",
                accessory=_button("Edit", EDIT_ACTION, cat.slug),
            )
        )
    if len(categories) > LIST_MAX:
        blocks.append(
            _section(
                f"…and {len(categories) - LIST_MAX} more: `crowdtune categories list` shows "
                "them all, `crowdtune categories edit SLUG` changes one."
            )
        )
    return {
        "type": "modal",
        "callback_id": LIST_CALLBACK,
        "title": {"type": "plain_text", "text": "Categories"},
        "close": {"type": "plain_text", "text": "Done"},
        "blocks": blocks,
    }


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str | None = None,
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {"action_id": block_id, **element},
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _text(initial: str, *, multiline: bool = False, max_length: int = 150) -> dict[str, Any]:
    el: dict[str, Any] = {
        "type": "plain_text_input",
        "multiline": multiline,
        "max_length": max_length,
    }
    if initial:
        el["initial_value"] = initial[:max_length]
    return el


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


def preview_text(guideline: str) -> str:
    """The guideline as writers will see it at the top of the write modal."""
    shown = escape_mrkdwn(guideline.strip()) or "_Nothing to preview yet: type a guideline._"
    return clip(f"*Preview* (what writers see)\n>>> {shown}", 3000)


def category_form(form: CategoryForm, meta: FormMeta) -> dict[str, Any]:
    """The new/edit form: the guideline in a multiline input, its preview below."""
    new = meta.slug is None
    blocks: list[dict[str, Any]] = []
    if new:
        blocks.append(
            _input(
                "slug",
                "Slug",
                _text(form.slug, max_length=64),
                hint="Lowercase letters, digits and underscores, e.g. customer_support.",
            )
        )
    else:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"`{escape_mrkdwn(form.slug)}`"}],
            }
        )
    blocks += [
        _input("name", "Name", _text(form.name, max_length=75)),
        _input(
            "guideline",
            "Guideline",
            _text(form.guideline, multiline=True, max_length=GUIDELINE_MAX),
            hint="Shown to writers above the form. Editing it keeps the previous version.",
        ),
        {
            "type": "actions",
            "block_id": "preview_actions",
            "elements": [_button("Preview guideline", PREVIEW_ACTION)],
        },
        _section(preview_text(form.guideline), block_id="guideline_preview"),
        _input("target", "Target (approved examples)", _text(form.target, max_length=9)),
        _input(
            "min_instruction",
            "Shortest instruction (characters)",
            _text(form.min_instruction, max_length=6),
        ),
        _input(
            "min_response", "Shortest response (characters)", _text(form.min_response, max_length=6)
        ),
        _input("domain", "Domain", _text(form.domain, max_length=128), optional=True),
        _options_block(form),
        _input(
            "experts",
            "Experts",
            {
                "type": "multi_users_select",
                **({"initial_users": list(form.experts)} if form.experts else {}),
            },
            optional=True,
            hint="Asked first about this category, and its sign-off when required.",
        ),
        _input(
            "expert_group",
            "Expert user group id",
            _text(form.expert_group, max_length=32),
            optional=True,
            hint="A Slack user group (S0123ABCD) whose members are experts too.",
        ),
    ]
    return {
        "type": "modal",
        "callback_id": FORM_CALLBACK,
        "title": {"type": "plain_text", "text": "New category" if new else "Edit category"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Back"},
        "private_metadata": meta.dumps(),
        "blocks": blocks,
    }


def _options_block(form: CategoryForm) -> dict[str, Any]:
    options = [
        _option(OPT_CONTEXT, "Writers must paste a reference text"),
        _option(OPT_SIGN_OFF, "Approval needs an expert's approval"),
        _option(OPT_ACTIVE, "Active: takes new examples"),
    ]
    chosen = {OPT_CONTEXT: form.needs_context, OPT_SIGN_OFF: form.expert_sign_off}
    chosen[OPT_ACTIVE] = form.active
    element: dict[str, Any] = {"type": "checkboxes", "options": options}
    initial = [o for o in options if chosen[o["value"]]]
    if initial:
        element["initial_options"] = initial
    return _input("options", "Options", element, optional=True)


def read_form(view: dict[str, Any], slug: str | None) -> CategoryForm:
    """The form as the admin left it (`slug` of the category edited, None for a new one)."""
    values = view.get("state", {}).get("values", {})

    def text(block: str) -> str:
        return str(values.get(block, {}).get(block, {}).get("value") or "")

    checked = {
        o.get("value")
        for o in values.get("options", {}).get("options", {}).get("selected_options") or []
    }
    experts = values.get("experts", {}).get("experts", {}).get("selected_users") or []
    return CategoryForm(
        slug=slug if slug is not None else text("slug").strip(),
        name=text("name"),
        guideline=text("guideline"),
        target=text("target").strip(),
        min_instruction=text("min_instruction").strip(),
        min_response=text("min_response").strip(),
        domain=text("domain"),
        experts=tuple(str(u) for u in experts),
        expert_group=text("expert_group").strip(),
        needs_context=OPT_CONTEXT in checked,
        expert_sign_off=OPT_SIGN_OFF in checked,
        active=OPT_ACTIVE in checked,
    )


def form_errors(errors: dict[str, str]) -> dict[str, str]:
    """Store field names mapped onto the form's input blocks (unknown ones onto the name)."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        block = FIELD_BLOCKS.get(name, "name")
        out[block] = clip(f"{out[block]} {message}" if block in out else message, 2000)
    return out
