"""`crowdtune categories`: list, add, edit, retire and reactivate categories; set targets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from store.catalogue import (
    CategoryFields,
    Experts,
    add_category,
    edit_category,
    guideline_history,
    set_active,
)
from store.categories import get_category, set_target
from store.db import session_scope
from store.errors import ValidationFailed
from store.experts import experts_of, named_experts
from store.stats import category_counts

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.runtime import Runtime


def _ids(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _field_options(p: argparse.ArgumentParser, *, adding: bool) -> None:
    p.add_argument("slug", help="lowercase letters, digits and underscores, e.g. customer_support")
    p.add_argument("--name", required=adding, help="the name writers see")
    p.add_argument(
        "--guideline-file",
        type=Path,
        required=adding,
        metavar="FILE",
        help="a text file with the guideline shown to writers (- reads standard input)",
    )
    ctx = p.add_mutually_exclusive_group(required=adding)
    ctx.add_argument(
        "--needs-context",
        dest="needs_context",
        action="store_const",
        const=True,
        help="writers must paste a reference text",
    )
    ctx.add_argument(
        "--no-context",
        dest="needs_context",
        action="store_const",
        const=False,
        help="no reference text needed",
    )
    p.add_argument(
        "--target", type=int, required=adding, metavar="N", help="approved examples wanted"
    )
    p.add_argument("--min-instruction", type=int, metavar="N", help="shortest instruction (chars)")
    p.add_argument("--min-response", type=int, metavar="N", help="shortest response (chars)")
    p.add_argument("--domain", metavar="TEXT", help="the field it belongs to ('' clears it)")
    p.add_argument(
        "--experts",
        type=_ids,
        metavar="U1,U2",
        help="Slack user ids of the category's experts ('' clears them)",
    )
    p.add_argument(
        "--expert-group",
        metavar="S0123",
        help="a Slack user group whose members are experts ('' clears it)",
    )
    sign = p.add_mutually_exclusive_group()
    sign.add_argument(
        "--expert-sign-off",
        dest="expert_sign_off",
        action="store_const",
        const=True,
        help="approve examples only when an expert is among the approvals",
    )
    sign.add_argument(
        "--no-expert-sign-off", dest="expert_sign_off", action="store_const", const=False
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `categories` command group."""
    p = sub.add_parser("categories", help="list and manage categories")
    p.set_defaults(handler=list_cmd)
    csub = p.add_subparsers(dest="categories_command", metavar="ACTION")
    ls = csub.add_parser("list", help="list categories with targets and progress")
    ls.set_defaults(handler=list_cmd)
    st = csub.add_parser("set-target", help="set a category's target count")
    st.add_argument("slug")
    st.add_argument("target", type=int)
    st.set_defaults(handler=set_target_cmd)
    add = csub.add_parser("add", help="add a category of your own")
    _field_options(add, adding=True)
    add.set_defaults(handler=add_cmd)
    edit = csub.add_parser("edit", help="change a category (a new guideline keeps the old one)")
    _field_options(edit, adding=False)
    edit.set_defaults(handler=edit_cmd)
    for name, active, text in (
        ("retire", False, "stop new work in a category (its examples are kept)"),
        ("reactivate", True, "take new work in a retired category again"),
    ):
        sp = csub.add_parser(name, help=text)
        sp.add_argument("slug")
        sp.set_defaults(handler=set_active_cmd, active=active)
    show = csub.add_parser("show", help="a category's settings, experts and guideline versions")
    show.add_argument("slug")
    show.set_defaults(handler=show_cmd)


def list_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Print each category with context rule, target and progress."""
    with session_scope(rt.sessions) as s:
        rows = category_counts(s)
    print(f"{'slug':<24}{'name':<24}{'context':>8}{'approved':>9}{'target':>8}{'active':>7}")
    for c in rows:
        ctx = "yes" if c.needs_context else "-"
        active = "yes" if c.active else "no"
        print(f"{c.slug:<24}{c.name:<24}{ctx:>8}{c.approved:>9}{c.target:>8}{active:>7}")
    return 0


def set_target_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Set one category's target."""
    with session_scope(rt.sessions) as s:
        cat = set_target(s, args.slug, args.target)
        print(f"{cat.slug}: target set to {cat.target}")
    return 0


def _guideline(path: Path | None) -> str | None:
    if path is None:
        return None
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationFailed({"guideline": f"{path}: no such file"}) from None
    except UnicodeDecodeError:
        raise ValidationFailed({"guideline": f"{path}: not UTF-8 text"}) from None
    except OSError as exc:
        raise ValidationFailed({"guideline": f"{path}: {exc.strerror}"}) from None


def _fields(args: argparse.Namespace) -> CategoryFields:
    return CategoryFields(
        name=args.name,
        guideline=_guideline(args.guideline_file),
        needs_context=args.needs_context,
        target=args.target,
        min_instruction_chars=args.min_instruction,
        min_response_chars=args.min_response,
        domain=args.domain,
        expert_sign_off=args.expert_sign_off,
    )


def _client(rt: Runtime) -> WebClient | None:
    # Slack's client is imported only when a user group must be looked up (see bot/cli.py).
    from bot.slack.client import build_client

    return build_client(rt.settings) if rt.settings.slack_bot_token else None


def _experts(rt: Runtime, user_ids: tuple[str, ...], group: str | None) -> Experts:
    # Slack is asked before the transaction opens: an unknown group changes nothing.
    from bot.slack.usergroups import resolve_experts

    return resolve_experts(_client(rt) if group else None, user_ids, group)


def _summary(rt: Runtime, slug: str) -> str:
    with session_scope(rt.sessions) as s:
        cat = get_category(s, slug)
        experts = len(experts_of(s, cat.id))
        state = "active" if cat.active else "retired"
        sign = ", expert sign-off" if cat.expert_sign_off else ""
        return (
            f"{cat.slug} ({cat.name}): {state}, target {cat.target}, guideline "
            f"v{cat.guideline_version}, {experts} expert(s){sign}"
        )


def add_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Add a category; all its problems are reported at once and nothing is stored."""
    fields = _fields(args)
    experts = _experts(rt, args.experts or (), args.expert_group or None)
    with session_scope(rt.sessions) as s:
        add_category(s, args.slug, fields, experts=experts, changed_by="cli")
    print("added " + _summary(rt, args.slug))
    return 0


def edit_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Change a category's fields, guideline (as a new version) or experts."""
    fields = _fields(args)
    experts: Experts | None = None
    if args.experts is not None or args.expert_group is not None:
        with session_scope(rt.sessions) as s:
            cat = get_category(s, args.slug)
            named = tuple(named_experts(s, cat.id))
            group = cat.expert_usergroup
        user_ids = named if args.experts is None else args.experts
        group = group if args.expert_group is None else args.expert_group
        experts = _experts(rt, user_ids, group or None)
    with session_scope(rt.sessions) as s:
        edit_category(s, args.slug, fields, experts=experts, changed_by="cli")
    print("changed " + _summary(rt, args.slug))
    return 0


def set_active_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Retire or reactivate a category; its examples are never deleted."""
    with session_scope(rt.sessions) as s:
        cat = set_active(s, args.slug, args.active)
        slug = cat.slug
    if args.active:
        print(f"{slug}: active again; writers and nudges can pick it")
    else:
        print(
            f"{slug}: retired; it takes no new examples, keeps the ones it has, and "
            f"`crowdtune export --categories {slug}` still exports them"
        )
    return 0


def show_cmd(rt: Runtime, args: argparse.Namespace) -> int:
    """Print a category's settings, experts and every guideline version."""
    print(_summary(rt, args.slug))
    with session_scope(rt.sessions) as s:
        cat = get_category(s, args.slug)
        print(f"domain: {cat.domain or '-'}; context required: {cat.needs_context}")
        print(
            f"minimum lengths: instruction {cat.min_instruction_chars}, "
            f"response {cat.min_response_chars}"
        )
        group = f" (user group {cat.expert_usergroup})" if cat.expert_usergroup else ""
        print(f"experts{group}: {', '.join(sorted(experts_of(s, cat.id))) or '-'}")
        for row in guideline_history(s, args.slug):
            when = row.created_at.strftime("%Y-%m-%d %H:%M UTC")
            print(f"\n--- guideline v{row.version} ({when}, by {row.changed_by or '?'})")
            print(row.text)
    return 0
