"""Admins manage categories in Slack: `/crowdtune categories`, Edit, New, preview, save."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.slack.handlers.common import Deps, acting_person
from bot.slack.handlers.listeners import Later, listen
from bot.slack.usergroups import resolve_experts
from bot.slack.views.categories import (
    EDIT_ACTION,
    FORM_CALLBACK,
    NEW_ACTION,
    PREVIEW_ACTION,
    CategoryForm,
    FormMeta,
    categories_modal,
    category_form,
    form_errors,
    form_of,
    read_form,
)
from store.catalogue import CategoryFields, Experts, add_category, edit_category, set_active
from store.categories import get_category, list_categories
from store.errors import PermissionDenied, ValidationFailed
from store.experts import named_experts
from store.models import CategoryExpert
from store.stats import category_counts

REFUSAL = (
    "Sorry, managing categories is for crowdtune admins. If a category is missing, "
    "ask an admin to add it."
)


def list_view(session: Session) -> dict[str, Any]:
    """The categories modal with current counts and experts."""
    approved = {c.slug: c.approved for c in category_counts(session)}
    experts = {
        cid: int(n)
        for cid, n in session.execute(
            select(CategoryExpert.category_id, func.count()).group_by(CategoryExpert.category_id)
        )
    }
    return categories_modal(list_categories(session), approved, experts)


def open_categories(deps: Deps, client: WebClient, trigger_id: str) -> None:
    """Open the categories modal (the caller has checked the person is an admin)."""
    with deps.session() as s:
        view = list_view(s)
    client.views_open(trigger_id=trigger_id, view=view)


def _require_admin(deps: Deps, session: Session, context: BoltContext, body: dict[str, Any]) -> str:
    me = acting_person(session, context, body)
    if not deps.is_admin(me):
        raise PermissionDenied(REFUSAL)
    return me.slack_user_id


def _number(errors: dict[str, str], key: str, raw: str, label: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        errors[key] = f"the {label} is a whole number, e.g. 500"
        return None


def _fields(form: CategoryForm) -> CategoryFields:
    errors: dict[str, str] = {}
    target = _number(errors, "target", form.target, "target")
    min_ins = _number(errors, "min_instruction_chars", form.min_instruction, "shortest instruction")
    min_resp = _number(errors, "min_response_chars", form.min_response, "shortest response")
    if errors:
        raise ValidationFailed(errors)
    return CategoryFields(
        name=form.name,
        guideline=form.guideline,
        needs_context=form.needs_context,
        target=target,
        min_instruction_chars=min_ins,
        min_response_chars=min_resp,
        domain=form.domain,
        expert_sign_off=form.expert_sign_off,
    )


def save_category(
    deps: Deps, client: WebClient, form: CategoryForm, meta: FormMeta, editor: str
) -> str:
    """Store the form (a new category or an edit) and return its slug; ValidationFailed
    names every bad field. Slack is asked for the user group before the transaction."""
    fields = _fields(form)
    experts: Experts = resolve_experts(client, form.experts, form.expert_group or None)
    with deps.session() as s:
        if meta.slug is None:
            cat = add_category(s, form.slug, fields, experts=experts, changed_by=editor)
        else:
            cat = edit_category(s, meta.slug, fields, experts=experts, changed_by=editor)
        if cat.active != form.active:
            set_active(s, cat.slug, form.active)
        return cat.slug


def register(app: App, deps: Deps) -> None:
    """Listeners of the categories modal and form."""

    def push_form(
        body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext
    ) -> None:
        root = (body.get("view") or {}).get("id")
        with deps.session() as s:
            _require_admin(deps, s, context, body)
            if action["action_id"] == NEW_ACTION:
                form, meta = CategoryForm(), FormMeta(None, root)
            else:
                cat = get_category(s, str(action["value"]))
                form = form_of(cat, named_experts(s, cat.id))
                meta = FormMeta(cat.slug, root)
        client.views_push(trigger_id=body["trigger_id"], view=category_form(form, meta))

    listen(app.action(NEW_ACTION), push_form)
    listen(app.action(EDIT_ACTION), push_form)

    def preview(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        view = body["view"]
        with deps.session() as s:
            _require_admin(deps, s, context, body)
        meta = FormMeta.loads(view.get("private_metadata"))
        form = read_form(view, meta.slug)
        client.views_update(
            view_id=view["id"], hash=view.get("hash"), view=category_form(form, meta)
        )

    listen(app.action(PREVIEW_ACTION), preview)

    def submit(
        ack: Ack,
        body: dict[str, Any],
        view: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> Later | None:
        with deps.session() as s:
            editor = _require_admin(deps, s, context, body)
        meta = FormMeta.loads(view.get("private_metadata"))
        form = read_form(view, meta.slug)
        try:
            save_category(deps, client, form, meta, editor)
        except ValidationFailed as exc:
            ack(response_action="errors", errors=form_errors(exc.errors))
            return None
        return {"root": meta.root_view_id}  # the ack closes the form; the list is refreshed

    def refresh_list(client: WebClient, later: Later) -> None:
        if not later.get("root"):
            return
        with deps.reading() as s:
            view = list_view(s)
        client.views_update(view_id=later["root"], view=view)

    # The store call answers in the ack (errors on the form's fields); the list after it.
    listen(app.view(FORM_CALLBACK), refresh_list, commit=submit)
