"""Write docs/cli.md, the CLI reference, from the click command tree of `starrynight`.

The reference is generated so it cannot drift from the CLI: run this after adding or
changing a command. `--check` writes nothing and exits 1 if docs/cli.md is out of date
(the test suite runs the same comparison).

    .venv/bin/python scripts/gen_cli_reference.py            # (re)write docs/cli.md
    .venv/bin/python scripts/gen_cli_reference.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "cli.md"
REGENERATE = ".venv/bin/python scripts/gen_cli_reference.py"
PROGRAM = "starrynight"
_MD_SPECIAL = str.maketrans({"\\": "\\\\", "|": "\\|", "<": "&lt;", ">": "&gt;", "*": "\\*"})


class CommandImportError(RuntimeError):
    """A sub-command is listed by its group but cannot be loaded."""


def walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """Every visible command of the tree, depth first, in `list_commands` order."""
    yield command, ctx
    if not isinstance(command, click.Group):
        return
    for name in command.list_commands(ctx):
        try:
            sub = command.get_command(ctx, name)
        except Exception as err:  # a broken module must name itself, not crash anonymously
            raise CommandImportError(
                f"{ctx.command_path} {name}: cannot load the command: {err}"
            ) from err
        if sub is None or sub.hidden:
            continue
        yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))


def machine_free(text: str) -> str:
    """Replace install locations (e.g. a default plugins folder) so the file is the same everywhere."""
    import starrynight

    package = str(Path(starrynight.__file__).resolve().parent)
    return text.replace(package, "<starrynight package>").replace(str(ROOT), "<repo>")


def md(text: str) -> str:
    """Help text as literal Markdown (no HTML tags, table breaks or emphasis)."""
    return machine_free(text).translate(_MD_SPECIAL)


def code_cell(text: str) -> str:
    """Text for a code span inside a table cell (a bare `|` would end the cell)."""
    return machine_free(text).replace("|", "\\|")


def anchor(path: str) -> str:
    """GitHub's heading anchor for a `## <command path>` heading."""
    return "#" + path.lower().replace(" ", "-")


def help_paragraphs(command: click.Command) -> str:
    """The command's help as click shows it (text after \\f is hidden; \\b lines dropped)."""
    text = (command.help or "").split("\f", 1)[0]
    lines = [line for line in text.strip().splitlines() if line.strip() != "\b"]
    return "\n".join(md(line) for line in lines)


def arguments_table(command: click.Command, ctx: click.Context) -> list[str]:
    rows = []
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument):
            many = (
                "any number"
                if param.nargs == -1
                else f"{param.nargs}"
                if param.nargs > 1
                else "one"
            )
            need = "required" if param.required else "optional"
            rows.append(
                f"| `{param.human_readable_name}` | {need}; {many} ({md(param.type.name)}) |"
            )
    return ["| argument | takes |", "|---|---|", *rows] if rows else []


def options_table(command: click.Command, ctx: click.Context) -> list[str]:
    options = [p for p in command.get_params(ctx) if not isinstance(p, click.Argument)]
    records = [param.get_help_record(ctx) for param in options]
    rows = [f"| `{code_cell(opts)}` | {md(text)} |" for opts, text in filter(None, records)]
    return ["| option | description |", "|---|---|", *rows] if rows else []


def commands_table(group: click.Group, ctx: click.Context) -> list[str]:
    rows = []
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        path = f"{ctx.command_path} {name}"
        rows.append(f"| [`{path}`]({anchor(path)}) | {md(sub.get_short_help_str(limit=120))} |")
    return ["| command | what it does |", "|---|---|", *rows]


def section(command: click.Command, ctx: click.Context) -> str:
    usage = " ".join([ctx.command_path, *command.collect_usage_pieces(ctx)])
    parts = [f"## {ctx.command_path}", "", "```text", machine_free(usage), "```", ""]
    if help_text := help_paragraphs(command):
        parts += [help_text, ""]
    if command.deprecated:
        parts += ["**Deprecated.**", ""]
    if table := arguments_table(command, ctx):
        parts += ["Arguments:", "", *table, ""]
    if table := options_table(command, ctx):
        parts += ["Options:", "", *table, ""]
    if isinstance(command, click.Group):
        parts += ["Commands:", "", *commands_table(command, ctx), ""]
    return "\n".join(parts)


def render(root: click.Command | None = None) -> str:
    """The whole reference as Markdown: one section per group and command."""
    if root is None:
        from starrynight.cli import main as root
    ctx = click.Context(root, info_name=PROGRAM, terminal_width=100, max_content_width=100)
    header = "\n".join([
        "# CLI reference",
        "",
        "<!-- GENERATED by scripts/gen_cli_reference.py from the click command tree. Do not edit:",
        f"     regenerate with `{REGENERATE}`. -->",
        "",
        "Every `starrynight` group and command, with its usage, help and options, exactly as",
        "`starrynight <group> <command> --help` prints them. For a guided tour see",
        "[getting-started.md](getting-started.md).",
        "",
    ])  # fmt: skip
    return header + "\n" + "\n".join(section(cmd, c) for cmd, c in walk(root, ctx))


def write_atomic(path: Path, text: str) -> None:
    """Temp file + rename, with the permissions a plain write would give (mkstemp makes 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def stale_message(path: Path, current: str, expected: str) -> str:
    """What is out of date, and the one command that fixes it."""
    diff = list(difflib.unified_diff(current.splitlines(), expected.splitlines(),
                                     f"{path} (committed)", f"{path} (from the CLI)", lineterm=""))  # fmt: skip
    shown = "\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "")
    return f"{path} is out of date with the CLI. Regenerate it with:\n    {REGENERATE}\n{shown}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the file is stale"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: docs/cli.md")
    args = parser.parse_args(argv)
    try:
        expected = render()
    except CommandImportError as err:
        print(f"gen_cli_reference: {err}", file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.is_file() else ""
    if args.check:
        if current != expected:
            print(stale_message(args.output, current, expected), file=sys.stderr)
            return 1
        print(f"{args.output}: up to date")
        return 0
    if current != expected:
        write_atomic(args.output, expected)
        print(f"wrote {args.output}")
    else:
        print(f"{args.output}: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
