"""Categories the company owns: add, edit, retire and reactivate them, guideline versions kept."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.categories import get_category
from store.errors import NotFound, ValidationFailed
from store.models import Category, CategoryExpert, CategoryGuideline

SLUG_RE = re.compile(r"[a-z][a-z0-9_]{1,63}")
USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,31}")
USERGROUP_RE = re.compile(r"S[A-Z0-9]{2,31}")
GUIDELINE_MAX = 3000  # a Slack section holds 3000 characters; the write modal shows it whole
NAME_MAX = 75  # a select option's text is at most 75 characters


@dataclass(frozen=True)
class CategoryFields:
    """What an admin sets on a category; None leaves a field as it is (on edit)."""

    name: str | None = None
    guideline: str | None = None
    needs_context: bool | None = None
    target: int | None = None
    min_instruction_chars: int | None = None
    min_response_chars: int | None = None
    domain: str | None = None
    expert_sign_off: bool | None = None


@dataclass(frozen=True)
class Experts:
    """Who the experts are: Slack user ids named directly, and a user group with its members.

    `usergroup_members` is what Slack's usergroups.users.list answered for `usergroup` (the
    caller asks Slack; the store never does). `usergroup=""` removes the group.
    """

    user_ids: tuple[str, ...] = ()
    usergroup: str | None = None
    usergroup_members: tuple[str, ...] = ()


def _check_fields(
    session: Session, f: CategoryFields, *, current: Category | None
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if f.name is not None:
        name = f.name.strip()
        if not name:
            errors["name"] = "give the category a name people will recognise"
        elif len(name) > NAME_MAX:
            errors["name"] = f"a name is at most {NAME_MAX} characters"
        else:
            clash = session.scalar(
                select(Category.slug).where(func.lower(Category.name) == name.lower())
            )
            if clash is not None and (current is None or clash != current.slug):
                errors["name"] = f"the name {name!r} is already used by category {clash!r}"
    if f.guideline is not None:
        if not f.guideline.strip():
            errors["guideline"] = "the guideline is empty; say what a good example looks like"
        elif len(f.guideline.strip()) > GUIDELINE_MAX:
            errors["guideline"] = f"a guideline is at most {GUIDELINE_MAX:,} characters"
    for key, label in (
        ("target", "target"),
        ("min_instruction_chars", "minimum instruction length"),
        ("min_response_chars", "minimum response length"),
    ):
        value = getattr(f, key)
        if value is not None and value < 0:
            errors[key] = f"the {label} must be zero or more"
    if f.domain is not None and len(f.domain.strip()) > 128:
        errors["domain"] = "a domain is at most 128 characters"
    return errors


def _check_experts(experts: Experts) -> dict[str, str]:
    errors: dict[str, str] = {}
    bad = [u for u in experts.user_ids if not USER_ID_RE.fullmatch(u)]
    if bad:
        errors["experts"] = (
            f"not Slack user ids: {', '.join(bad)} (they look like U0123ABCD; "
            "in Slack: profile → ⋮ → Copy member ID)"
        )
    group = experts.usergroup
    if group and not USERGROUP_RE.fullmatch(group):
        errors["expert_group"] = f"{group!r} is not a user group id (they look like S0123ABCD)"
    return errors


def _record_guideline(
    session: Session, category: Category, text: str, changed_by: str | None
) -> None:
    session.add(
        CategoryGuideline(
            category_id=category.id,
            version=category.guideline_version,
            text=text,
            changed_by=changed_by,
        )
    )


def _apply(category: Category, f: CategoryFields) -> None:
    for field in fields(CategoryFields):
        value = getattr(f, field.name)
        if value is None or field.name == "guideline":
            continue
        if isinstance(value, str):
            value = value.strip()
        setattr(category, field.name, value)
    if f.domain is not None:
        category.domain = f.domain.strip() or None


def _set_experts(session: Session, category: Category, experts: Experts) -> None:
    rows = {
        e.slack_user_id: e
        for e in session.scalars(
            select(CategoryExpert).where(CategoryExpert.category_id == category.id)
        )
    }
    named = set(experts.user_ids)
    members = set(experts.usergroup_members) if experts.usergroup else set()
    for user_id, old in rows.items():
        if user_id not in named and user_id not in members:
            session.delete(old)
    for user_id in named | members:
        via_group = user_id not in named
        row = rows.get(user_id)
        if row is None:
            session.add(
                CategoryExpert(
                    category_id=category.id, slack_user_id=user_id, via_usergroup=via_group
                )
            )
        else:
            row.via_usergroup = via_group
    category.expert_usergroup = experts.usergroup or None


def add_category(
    session: Session,
    slug: str,
    f: CategoryFields,
    *,
    experts: Experts | None = None,
    changed_by: str | None = None,
) -> Category:
    """Create a category (its guideline as version 1); every problem is named at once."""
    errors: dict[str, str] = {}
    if not SLUG_RE.fullmatch(slug):
        errors["slug"] = (
            f"{slug!r} is not a valid slug: use 2-64 lowercase letters, digits and "
            "underscores, starting with a letter (e.g. customer_support)"
        )
    elif session.scalar(select(Category.id).where(Category.slug == slug)) is not None:
        errors["slug"] = f"a category {slug!r} already exists; use `categories edit {slug}`"
    if f.name is None:
        errors["name"] = "give the category a name (--name)"
    if f.guideline is None:
        errors["guideline"] = "give the category a guideline (--guideline-file)"
    if f.target is None:
        errors["target"] = "give the category a target count (--target)"
    errors.update({k: v for k, v in _check_fields(session, f, current=None).items()})
    errors.update(_check_experts(experts or Experts()))
    if errors:
        raise ValidationFailed(errors)
    last = session.scalar(select(func.max(Category.sort_order))) or 0
    category = Category(
        slug=slug,
        name="",
        guideline=(f.guideline or "").strip(),
        needs_context=bool(f.needs_context),
        guideline_version=1,
        sort_order=last + 1,
        active=True,
    )
    _apply(category, f)
    try:
        with session.begin_nested():
            session.add(category)
    except IntegrityError:
        # Another admin added the same slug or name between our check and this insert.
        raise ValidationFailed(
            {"slug": f"a category {slug!r} or named {f.name!r} already exists"}
        ) from None
    _record_guideline(session, category, category.guideline, changed_by)
    if experts is not None:
        _set_experts(session, category, experts)
    session.flush()
    return category


def edit_category(
    session: Session,
    slug: str,
    f: CategoryFields,
    *,
    experts: Experts | None = None,
    changed_by: str | None = None,
) -> Category:
    """Change a category; a changed guideline becomes a new version, the old text is kept."""
    category = get_category(session, slug)
    errors = _check_fields(session, f, current=category)
    if experts is not None:
        errors.update(_check_experts(experts))
    if errors:
        raise ValidationFailed(errors)
    _apply(category, f)
    if f.guideline is not None and f.guideline.strip() != category.guideline:
        ensure_guideline_history(session, category)
        category.guideline = f.guideline.strip()
        category.guideline_version += 1
        _record_guideline(session, category, category.guideline, changed_by)
    if experts is not None:
        _set_experts(session, category, experts)
    session.flush()
    return category


def ensure_guideline_history(session: Session, category: Category) -> None:
    """Record the current guideline as its version if no row holds it yet (seeded defaults)."""
    found = session.scalar(
        select(CategoryGuideline.id).where(
            CategoryGuideline.category_id == category.id,
            CategoryGuideline.version == category.guideline_version,
        )
    )
    if found is None:
        _record_guideline(session, category, category.guideline, "seed")
        session.flush()


def set_active(session: Session, slug: str, active: bool) -> Category:
    """Retire (no new work; examples kept and exportable) or reactivate a category."""
    category = get_category(session, slug)
    category.active = active
    session.flush()
    return category


def guideline_history(session: Session, slug: str) -> list[CategoryGuideline]:
    """Every recorded version of a category's guideline, oldest first."""
    category = get_category(session, slug)
    ensure_guideline_history(session, category)
    return list(
        session.scalars(
            select(CategoryGuideline)
            .where(CategoryGuideline.category_id == category.id)
            .order_by(CategoryGuideline.version)
        )
    )


def guideline_text(session: Session, slug: str, version: int) -> str:
    """The guideline of `slug` as it read in `version`, or NotFound."""
    for row in guideline_history(session, slug):
        if row.version == version:
            return row.text
    raise NotFound(f"category {slug!r} has no guideline version {version}")
