"""The docs cannot drift from the code: generated CLI reference, real commands, live links.

- docs/cli.md equals what scripts/gen_cli_reference.py generates from the click tree;
- every `starrynight ...` command in the shell code blocks (and inline code) of
  docs/getting-started.md and README.md names a real command path and real options;
- every relative link in docs/*.md and README.md points at an existing file (and heading).
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
GENERATOR = ROOT / "scripts" / "gen_cli_reference.py"
REGENERATE = ".venv/bin/python scripts/gen_cli_reference.py"
COMMAND_DOCS = [DOCS / "getting-started.md", ROOT / "README.md"]
SHELL_LANGUAGES = {"", "bash", "sh", "shell", "console", "zsh"}
FENCE = re.compile(r"^(```|~~~)\s*([\w+-]*)[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_reference", GENERATOR)
    assert spec and spec.loader, f"cannot load {GENERATOR}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- CLI reference
def test_cli_reference_is_up_to_date():
    gen = load_generator()
    path = DOCS / "cli.md"
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    expected = gen.render()
    assert current == expected, (
        "docs/cli.md does not match the CLI (a command or option was added or changed).\n"
        f"Regenerate it from the repository root with:\n    {REGENERATE}\n"
        "and commit docs/cli.md.\n" + gen.stale_message(Path("docs/cli.md"), current, expected)
    )


def test_cli_reference_covers_every_group_and_nested_command():
    from starrynight.cli import COMMANDS, main

    text = load_generator().render()
    ctx = click.Context(main, info_name="starrynight")
    for name in main.list_commands(ctx):
        assert f"\n## starrynight {name}\n" in text, f"group {name!r} missing from the reference"
    assert set(main.list_commands(ctx)) <= set(COMMANDS)
    # the walk descends into lazy groups inside groups (e.g. illum -> calc -> loaddata)
    nested = [line for line in text.splitlines() if line.startswith("## ") and line.count(" ") >= 4]
    assert nested, "no third-level command found: the generator did not walk nested groups"


def test_check_mode_exits_1_and_says_how_to_regenerate(tmp_path: Path):
    stale = tmp_path / "cli.md"
    stale.write_text("# CLI reference\n\nold text\n")
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(stale)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert REGENERATE in proc.stderr
    assert stale.read_text() == "# CLI reference\n\nold text\n", "--check must not write"


def test_generator_writes_atomically_and_is_deterministic(tmp_path: Path):
    gen = load_generator()
    target = tmp_path / "docs" / "cli.md"
    assert gen.main(["--output", str(target)]) == 0
    first = target.read_text()
    assert first == gen.render()
    assert "/work/" not in first and str(ROOT) not in first, "machine-specific path in the reference"
    assert gen.main(["--check", "--output", str(target)]) == 0
    assert [p.name for p in target.parent.iterdir()] == ["cli.md"], "temp file left behind"
    assert target.stat().st_mode & 0o044, "docs/cli.md must be readable by others, like any doc"


# --------------------------------------------------------------------------- commands in docs
def shell_snippets(markdown: str) -> list[str]:
    """Shell code blocks (continuation lines joined) and inline code spans that start a command."""
    snippets = []
    for match in FENCE.finditer(markdown):
        if match.group(2).lower() in SHELL_LANGUAGES:
            snippets += match.group(3).replace("\\\n", " ").splitlines()
    prose = FENCE.sub("", markdown)
    snippets += [span for span in INLINE_CODE.findall(prose) if span.startswith("starrynight ")]
    return snippets


def starrynight_invocations(line: str) -> list[list[str]]:
    """The arguments of every `starrynight` (or `python -m starrynight`) command on a shell line."""
    line = re.sub(r"^\s*[$>]\s+", "", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as err:
        raise AssertionError(f"cannot parse shell line {line!r}: {err}") from None
    commands: list[list[str]] = [[]]
    for token in tokens:
        if set(token) <= set(";&|()<>"):
            commands.append([])
        else:
            commands[-1].append(token)
    found = []
    for words in commands:
        while words and re.match(r"^\w+=", words[0]):
            words = words[1:]
        if words and Path(words[0]).name == "starrynight":
            found.append(words[1:])
        elif len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "starrynight"]:
            found.append(words[3:])
    return found


def option_names(command: click.Command, ctx: click.Context) -> set[str]:
    names = {"--help"}
    for param in command.get_params(ctx):
        if isinstance(param, click.Option):
            names.update(param.opts, param.secondary_opts)
    return names


def check_invocation(args: list[str]) -> str | None:
    """None if `starrynight ARGS` names a real command and real options, else what is wrong."""
    from starrynight.cli import main

    command: click.Command = main
    ctx = click.Context(main, info_name="starrynight")
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        if sub is None:
            known = ", ".join(command.list_commands(ctx))
            return f"`{ctx.command_path}` has no command {name!r} (known: {known})"
        command, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
    known = option_names(command, ctx)
    for token in rest:
        if token.startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", token):
            flag = token.split("=", 1)[0]
            if flag not in known:
                return f"`{ctx.command_path}` has no option {flag} (options: {', '.join(sorted(known))})"
    return None


def doc_invocations(path: Path) -> list[tuple[str, list[str]]]:
    text = path.read_text(encoding="utf-8")
    return [(line.strip(), args) for line in shell_snippets(text) for args in starrynight_invocations(line)]


@pytest.mark.parametrize("path", COMMAND_DOCS, ids=lambda p: p.name)
def test_every_documented_command_exists(path: Path):
    problems = [
        f"{path.name}: {line!r}: {problem}"
        for line, args in doc_invocations(path)
        if (problem := check_invocation(args)) is not None
    ]
    assert not problems, "documented commands that the CLI does not have:\n" + "\n".join(problems)


def test_getting_started_shows_the_main_commands():
    paths = {" ".join(a for a in args if not a.startswith("-"))[:40] for _, args in doc_invocations(DOCS / "getting-started.md")}
    for expected in ("demo", "index presets", "index gen", "exp init", "exp new", "exp show", "run pcp-generic", "qc report"):
        assert any(p.startswith(expected) for p in paths), f"getting-started.md shows no `starrynight {expected}`"


def test_command_checker_rejects_unknown_commands_and_options():
    text = "```bash\nstarrynight index nope -w ws\n.venv/bin/starrynight run pcp-generic --confgi s.yaml && echo ok\n```\n"
    invocations = [args for line in shell_snippets(text) for args in starrynight_invocations(line)]
    assert invocations == [["index", "nope", "-w", "ws"], ["run", "pcp-generic", "--confgi", "s.yaml"]]
    assert "no command 'nope'" in check_invocation(invocations[0])
    assert "no option --confgi" in check_invocation(invocations[1])
    assert check_invocation(["run", "pcp-generic", "--config", "s.yaml"]) is None
    assert check_invocation(["exp", "init", "-o", "init.yaml", "--force"]) is None


@pytest.mark.parametrize("path", COMMAND_DOCS, ids=lambda p: p.name)
def test_scripts_named_in_docs_exist(path: Path):
    snippets = shell_snippets(path.read_text(encoding="utf-8"))
    named = {m for line in snippets for m in re.findall(r"(?<![\w/.-])(scripts/[\w./-]+\.(?:sh|py))", line)}
    missing = sorted(p for p in named if not (ROOT / p).is_file())
    assert not missing, f"{path.name} names scripts that do not exist: {missing}"


# --------------------------------------------------------------------------- code and config examples
def fenced(markdown: str, language: str) -> list[str]:
    return [m.group(3) for m in FENCE.finditer(markdown) if m.group(2).lower() == language]


def test_python_examples_compile_and_their_imports_resolve():
    blocks = fenced((DOCS / "getting-started.md").read_text(encoding="utf-8"), "python")
    assert len(blocks) >= 3, "the guide lost its Python examples"
    for number, block in enumerate(blocks, 1):
        compile(block, f"getting-started.md python block {number}", "exec")
        imports = "\n".join(line for line in block.splitlines() if re.match(r"^(from \S+ )?import ", line))
        exec(compile(imports, f"getting-started.md python block {number} (imports)", "exec"), {})


def test_yaml_examples_are_valid_configs():
    """The screen config and init config examples pass the same validation the commands use."""
    import yaml

    from pipecraft import SnakemakeBackendConfig
    from starrynight.experiments.pcp_generic import parse_init_config
    from starrynight.modules.base import get_module
    from starrynight.pipelines.screen import ScreenConfig

    blocks = [yaml.safe_load(b) for b in fenced((DOCS / "getting-started.md").read_text(encoding="utf-8"), "yaml")]
    screens = [b for b in blocks if "workspace_path" in b]
    inits = [b for b in blocks if "workspace_path" not in b]
    assert screens and inits and "nuclear_channel" in inits[0], "the guide lost its config examples"
    for screen in screens:
        config = ScreenConfig.model_validate(screen)
        SnakemakeBackendConfig(**config.backend)
        parse_init_config(config.experiment)
        for step, values in config.parameters.items():
            get_module(f"{step}_loaddata").Parameters(**values)
    for partial in inits:  # later examples show only the keys they add
        parse_init_config({**inits[0], **partial})


# --------------------------------------------------------------------------- step parameters
def documented_parameters(markdown: str) -> dict[str, dict[str, str]]:
    """step -> {parameter: documented default} from the step parameter table of the guide."""
    start = markdown.index("| step | unit of work | parameters (defaults) |")
    table = markdown[start:].split("\n\n", 1)[0].splitlines()[2:]
    steps = {}
    for row in table:
        cells = [c.strip() for c in row.strip("|").split("|")]
        step = cells[0].strip("`")
        steps[step] = dict(re.findall(r"`(\w+)` \(([^;)]*)", cells[2]))
    return steps


def same_default(documented: str, default: object) -> bool:
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        try:
            return float(documented) == float(default)
        except ValueError:
            return False
    return documented == str(default)


def test_step_parameter_table_matches_the_code():
    from starrynight.modules.base import get_module
    from starrynight.pipelines.pcp_generic import CP_ARM, SBS_ARM

    documented = documented_parameters((DOCS / "getting-started.md").read_text(encoding="utf-8"))
    problems = []
    for step in (*CP_ARM, *SBS_ARM, "analysis"):
        fields = get_module(f"{step}_loaddata").Parameters.model_fields
        shown = documented.get(step)
        if shown is None:
            problems.append(f"step {step} has no row")
            continue
        for name, field in fields.items():
            if name not in shown:
                problems.append(f"{step}.{name} (default {field.default!r}) is not listed")
            elif not same_default(shown[name], field.default):
                problems.append(f"{step}.{name}: the guide says {shown[name]!r}, the code {field.default!r}")
        problems += [f"{step}.{name} is listed but is not a parameter" for name in set(shown) - set(fields)]
    assert not problems, (
        "docs/getting-started.md section 4.3 (step parameters) is out of date; edit the table:\n"
        + "\n".join(problems)
    )


def test_backend_settings_table_names_real_settings():
    from pipecraft import SnakemakeBackendConfig

    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    start = text.index("| setting | default | meaning |")
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    named = [name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])]
    assert len(named) >= 5
    unknown = sorted(set(named) - set(SnakemakeBackendConfig.model_fields))
    assert not unknown, f"getting-started.md section 4.4 names backend settings that do not exist: {unknown}"


# --------------------------------------------------------------------------- links
def github_anchors(markdown: str) -> set[str]:
    """Heading anchors as GitHub makes them (lower case, punctuation dropped, spaces to -)."""
    seen: dict[str, int] = {}
    anchors = set()
    for _, title in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def link_problems(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    prose = INLINE_CODE.sub("", FENCE.sub("", text))
    problems = []
    for target in LINK.findall(prose):
        if re.match(r"^[a-zA-Z][\w+.-]*:", target):  # http:, https:, mailto: ...
            continue
        file_part, _, fragment = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.relative_to(ROOT)}: link {target!r}: {linked} does not exist")
        elif fragment and linked.suffix == ".md" and fragment not in github_anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"{path.relative_to(ROOT)}: link {target!r}: no heading #{fragment} in {linked.name}")
    return problems


def test_relative_links_point_at_existing_files():
    pages = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
    assert DOCS / "getting-started.md" in pages
    problems = [p for page in pages for p in link_problems(page)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_link_checker_finds_broken_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "a.md").write_text("# Top part\n\n## Second `one`\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md) [ok2](a.md#second-one) [self](#here) [web](https://x.org/nothing)\n"
        "[gone](missing.md) [bad anchor](a.md#nope)\n\n## Here\n\n```md\n[in code](ignored.md)\n```\n"
    )
    problems = link_problems(page)
    assert len(problems) == 2, problems
    assert "missing.md" in problems[0] and "#nope" in problems[1]
