"""mkdocs hook: the command-line reference, generated from the ``kgagent`` command itself.

docs/reference/cli.md holds the marker ``<!-- cli-reference -->``; this hook replaces it
with one section per command (sub-commands nested), each showing the text that
``kgagent CMD --help`` prints. Generating it at build time keeps the page from drifting
from the code; importing :mod:`kgagent.cli` loads no torch, so it costs well under a second.

The help is rendered by click's plain formatter (typer vendors click as ``typer._click``,
so contexts come from each command's own ``context_class``) (typer's rich boxes are switched off per
command), at a fixed width, so the output does not depend on the terminal that builds it.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- cli-reference -->"
WIDTH = 88


def _plain(command: Any) -> None:
    """Switch typer's rich help off for ``command`` and its sub-commands (click's format)."""
    if hasattr(command, "rich_markup_mode"):
        command.rich_markup_mode = None
    for sub in getattr(command, "commands", {}).values():
        _plain(sub)


def _sections(command: Any, ctx: Any, depth: int) -> list[str]:
    """One markdown section per command: a heading and its ``--help`` text."""
    out: list[str] = []
    if not hasattr(command, "list_commands"):  # a leaf command, not a group
        return out
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_ctx = sub.context_class(
            sub, info_name=name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH
        )
        path = sub_ctx.command_path
        out.append(f"{'#' * depth} `{path}`\n")
        out.append(f"```text\n{sub.get_help(sub_ctx).rstrip()}\n```\n")
        out.extend(_sections(sub, sub_ctx, depth + 1))
    return out


def cli_reference() -> str:
    """The markdown that replaces the marker: ``kgagent --help``, then every command."""
    import typer

    from kgagent.cli import app

    root = typer.main.get_command(app)
    _plain(root)
    ctx = root.context_class(
        root, info_name="kgagent", terminal_width=WIDTH, max_content_width=WIDTH
    )
    head = f"```text\n{root.get_help(ctx).rstrip()}\n```\n"
    return "\n".join([head, *_sections(root, ctx, 2)])


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """mkdocs event: fill the CLI reference page; every other page passes through."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())
