"""Compile a pipeline graph into a readable Snakefile plus job tables.

One rule per node. A fan-out is one wildcard rule (`{unit}`) whose per-unit inputs and
precomputed, shell-quoted command come from a JSON job table next to the Snakefile, so
planning stays linear in the number of units. Fan-outs can be packed into batches (several
units per Snakemake job, run one after another): very large ones always are, to keep
Snakemake's per-job planning cost bounded, and all are with `units_per_job`, so that a
cluster gets one submission per batch. A batch asks for one unit's cores and memory and the
sum of its units' runtimes.
Every node also gets a tiny `<name>__done` rule touching `.pipecraft/done/<name>`.

Ordering a `Seq` A -> B is per unit of B: a unit that reads outputs of A waits for exactly
those outputs (a data edge), and a unit that reads nothing from A waits for the whole of A
through A's done marker, required with `ancient()` so that it orders without forcing a
re-run when A re-runs (data edges do that). When no unit of B reads from A the marker is a
static input line of B's rule; when only some do, the marker is listed per unit in B's job
table (key "a") and the rule's input function returns it wrapped in `ancient()`. Batched
fan-outs take the union over the units of a batch. A node reading its own output, and any
cycle, is a GraphError naming the nodes.

Text from the graph never reaches the Snakefile unescaped: paths and commands are Python
string literals with every non-printable character escaped, argv is shown in comments with
the same escaping, and commands are params computed by functions (Snakemake would apply
wildcard formatting to literal param strings, so `{word}` in an argv would break).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipecraft.errors import GraphError
from pipecraft.graph import Command, FanOut, Node, Pipeline, flatten
from pipecraft.provenance import record_path

SAFE_WORD = re.compile(r"^[A-Za-z0-9_@%+:,./-]+$")
TOKEN = re.compile(r"\{(unit|input\.(\w+)|output\.(\w+)|param\.(\w+))\}")
SNAKEMAKE_WILDCARD = re.compile(r"\{\s*[.\w]+\s*(,[^{}]*)?\}")
DONE_DIR = ".pipecraft/done"
STAMP_DIR = ".pipecraft/stamps"
NO_SUCH_UNIT = ".pipecraft/no-such-unit"
JOBS_DIR = "jobs"


def quote(arg: str) -> str:
    """POSIX-shell quote one argument; `=` is quoted too so no word looks like an assignment."""
    if SAFE_WORD.match(arg):
        return arg
    return "'" + arg.replace("'", "'\"'\"'") + "'"


def shell_command(argv: list[str], env: dict[str, str]) -> str:
    """The one shell string a job runs: env assignments, then the quoted argv."""
    return " ".join([f"{k}={quote(v)}" for k, v in env.items()] + [quote(a) for a in argv])


def job_log(rule: str, unit: str | None) -> str:
    """The log of one job (one unit of a fan-out), relative to the working directory."""
    return f"logs/{rule}/{unit or rule}.log"


def job_benchmark(rule: str, unit: str | None) -> str:
    return f"benchmarks/{rule}/{unit or rule}.tsv"


def batch_log(rule: str, batch: str) -> str:
    """The log of one batch job (its units' own logs are `job_log`s), relative to the
    working directory."""
    return f"logs/{rule}/_batches/{batch}.log"


def batch_benchmark(rule: str, batch: str) -> str:
    return f"benchmarks/{rule}/_batches/{batch}.tsv"


def snakemake_log(stamp: str) -> str:
    """Snakemake's own log of one run, relative to the working directory."""
    return f"logs/pipecraft-run-{stamp}.log"


def job_stamp(rule: str, unit: str | None) -> str:
    """The file Snakemake knows a job by (its only Snakemake output), relative to the
    working directory. The job's real outputs and their provenance record live elsewhere."""
    return f"{STAMP_DIR}/{rule}/{unit or rule}"


@dataclass
class Job:
    """One unit of work as the run summary reports it."""

    rule: str
    unit: str | None
    outputs: list[tuple[str, str]]
    batch: str | None = None
    #: the command as shown (argv + env), whose digest the provenance record holds
    command: str = ""
    #: absolute input and output paths, for the provenance check
    inputs: list[str] = field(default_factory=list)
    abs_outputs: list[str] = field(default_factory=list)

    @property
    def log(self) -> str:
        return job_log(self.rule, self.unit)

    @property
    def benchmark(self) -> str:
        return job_benchmark(self.rule, self.unit)

    @property
    def stamp(self) -> str:
        return job_stamp(self.rule, self.batch or self.unit)


@dataclass
class RulePlan:
    """What the Snakefile needs to know about one node."""

    node: Node
    after: list[str]
    batch_size: int = 1
    table: dict[str, dict] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)
    argvs: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    #: batched units: (command as shown, absolute inputs) for the provenance record
    specs: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    #: one JSON line per job with outputs: its command, inputs and outputs (see provenance)
    provenance: bytearray = field(default_factory=bytearray)


@dataclass
class Plan:
    """The compiled form of a pipeline: rules and every job, in composition order."""

    rules: list[RulePlan]
    jobs: list[Job]


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause cyclic GC: 100k units allocate millions of small acyclic objects."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _norm(path: str) -> str:
    return os.path.normpath(path)


def _check_path(path: str, where: str) -> None:
    if "{" in path and SNAKEMAKE_WILDCARD.search(path):
        raise GraphError(
            f"{where}: path {path!r} contains {SNAKEMAKE_WILDCARD.search(path).group(0)!r}, "
            "which Snakemake would read as a wildcard; rename the file"
        )


def _escape_char(c: str) -> str:
    return "\\\\" if c == "\\" else c.encode("unicode_escape").decode("ascii")


def _escape_unprintable(text: str, also: str = "") -> str:
    """`text` with every non-printable character (and those in `also`) escaped."""
    if text.isprintable() and not any(c in text for c in also):
        return text
    return "".join(c if c.isprintable() and c not in also else _escape_char(c) for c in text)


def _comment_text(text: str) -> str:
    """Text that cannot end a `#` comment: backslashes and non-printable characters escaped.

    Snakemake reads the Snakefile in text mode, which ends a line at \\r as well as \\n; the
    other separators str.splitlines() knows (\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028,
    \\u2029) are not printable either, so none of them can reach a comment raw.
    """
    return _escape_unprintable(text, also="\\")


def _argv_template(argv: list[str]) -> list[tuple[str, str]]:
    """Classify argv elements once per node: constant, whole token, or embedded tokens."""
    out = []
    for arg in argv:
        whole = TOKEN.fullmatch(arg) if "{" in arg else None
        if "{" not in arg or not TOKEN.search(arg):
            out.append(("const", arg))
        elif whole and (whole.group(2) or whole.group(3)):
            out.append(("whole", arg))
        else:
            out.append(("embed", arg))
    return out


def _substitute(template: list[tuple[str, str]], name: str, unit_id: str | None,
                inputs: dict[str, list[str]], outputs: dict[str, list[str]],
                params: dict[str, str]) -> list[str]:
    """Expand {unit}, {input.X}, {output.X}, {param.X} tokens of argv for one unit."""

    def values(m: re.Match[str]) -> list[str]:
        where = f"node {name!r}" + (f", unit {unit_id!r}" if unit_id else "")
        token, key_in, key_out, key_param = m.groups()
        if token == "unit":
            if unit_id is None:
                raise GraphError(f"{where}: argv uses {{unit}} but is not a fan-out")
            return [unit_id]
        if key_param is not None:
            if key_param not in params:
                raise GraphError(f"{where}: argv uses {m.group(0)} but the unit has no param "
                                 f"{key_param!r}")
            return [params[key_param]]
        table, key = (inputs, key_in) if key_in is not None else (outputs, key_out)
        if key not in table:
            raise GraphError(f"{where}: argv uses {m.group(0)} but there is no such name")
        return table[key]

    def one(m: re.Match[str]) -> str:
        vals = values(m)
        if len(vals) != 1:
            raise GraphError(f"node {name!r}: {m.group(0)} has {len(vals)} values inside a longer "
                             "argument; use it as a whole argv element to pass several paths")
        return vals[0]

    out: list[str] = []
    for kind, arg in template:
        if kind == "const":
            out.append(arg)
        elif kind == "whole":
            out.extend(values(TOKEN.fullmatch(arg)))
        else:
            out.append(TOKEN.sub(one, arg))
    return out


def job_argv(node: Node, unit_id: str | None = None) -> list[str]:
    """The argv one job of `node` runs (the fan-out unit `unit_id`), tokens expanded, before
    any container wrapping: what a test or a debugging session runs by hand."""
    if isinstance(node, Command):
        outs = {k: [o.path for o in v] for k, v in node.outputs.items()}
        return _substitute(_argv_template(node.argv), node.name, None, node.inputs, outs, {})
    unit = next((u for u in node.units if u.id == unit_id), None)
    if unit is None:
        raise GraphError(f"node {node.name!r} has no unit {unit_id!r}")
    outs = {k: [o.path.replace("{unit}", unit.id) for o in v] for k, v in node.outputs.items()}
    return _substitute(_argv_template(node.argv), node.name, unit.id, unit.inputs, outs, unit.params)


def _docker_argv(argv: list[str], env: dict[str, str], image: str, paths: list[str],
                 working_dir: Path, reads: list[str]) -> list[str]:
    """Wrap argv in `docker run` as the invoking user, binding the working dir and every
    path's parent at the same place, and the folders the job only reads read-only."""
    dirs = {str(working_dir)} | {os.path.dirname(os.path.abspath(os.path.join(working_dir, p)))
                                 for p in paths}
    mounts: list[str] = []
    for d in sorted(dirs):
        if not any(d.startswith(m.rstrip("/") + "/") for m in mounts):
            mounts.append(d)
    read_only = sorted({os.path.abspath(r) for r in reads} - set(mounts))
    # --network host: a job reaches the object stores and services its host reaches
    cmd = ["docker", "run", "--rm", "-i", "--network", "host",
           "--user", f"{os.getuid()}:{os.getgid()}", "-w", str(working_dir)]
    for m in read_only:
        cmd += ["-v", f"{m}:{m}:ro"]
    for m in mounts:
        cmd += ["-v", f"{m}:{m}"]
    for k, v in env.items():
        cmd += ["-e", f"{k}={v}"]
    # an image named as a URI for apptainer (docker://repo:tag) is `repo:tag` to docker
    return cmd + [image.removeprefix("docker://"), *argv]


def _final_argv(node: Node, argv: list[str], paths: list[str], runtime: str,
                working_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The argv and environment a job really runs (wrapped in `docker run` if asked)."""
    if node.container and runtime == "docker":
        return _docker_argv(argv, node.env, node.container, paths, working_dir, node.reads), {}
    return argv, node.env


def _abs(path: str, working_dir: Path) -> str:
    return path if "://" in path else os.path.normpath(os.path.join(working_dir, path))


#: `python -m pipecraft.provenance SPECS OFFSET LENGTH -- ARGV` as the shell shows it
WRAPPER = re.compile(r"\S+ -m pipecraft\.provenance \S+ \d+ \d+ -- ")


def provenance_specs(name: str) -> str:
    """The file (relative to the working directory) holding the provenance spec of each job
    of node `name`, one JSON line per job, read by byte range."""
    return f"{JOBS_DIR}/{name}.provenance.jsonl"


def plan(pipeline: Pipeline, working_dir: Path, container_runtime: str = "none",
         max_jobs_per_fanout: int = 5_000, units_per_job: int = 1) -> Plan:
    """Check the graph and compute every job; raises GraphError naming the fault."""
    with _no_gc():
        return _plan(pipeline, working_dir, container_runtime, max_jobs_per_fanout,
                     units_per_job)


def batch_size(node: FanOut, max_jobs_per_fanout: int, units_per_job: int) -> int:
    """Units per Snakemake job of a fan-out: its own batch_size if set, else units_per_job,
    raised so that no fan-out has more than max_jobs_per_fanout jobs; never more than it has
    units (1 means not batched)."""
    if node.batch_size:
        return node.batch_size
    n_units = len(node.units)
    bounded = -(-n_units // max_jobs_per_fanout) if n_units > max_jobs_per_fanout else 1
    return max(1, min(max(units_per_job, bounded), n_units))


def _plan(pipeline: Pipeline, working_dir: Path, container_runtime: str,
          max_jobs_per_fanout: int, units_per_job: int) -> Plan:
    nodes, comp_edges = flatten(pipeline)
    producers: dict[str, tuple[str, str | None]] = {}
    dir_outputs: dict[str, str] = {}  # normalised path -> path as the producer wrote it
    rules: list[RulePlan] = []
    jobs: list[Job] = []

    def claim(path: str, kind: str, rule: str, unit: str | None) -> None:
        if "{" in path:
            _check_path(path, f"node {rule!r} output")
        key = _norm(path)
        if key in producers:
            other, ounit = producers[key]
            who = f"{other!r}" + (f" (unit {ounit!r})" if ounit else "")
            raise GraphError(f"output {path!r} is produced by two nodes: {who} and {rule!r}"
                             + (f" (unit {unit!r})" if unit else ""))
        producers[key] = (rule, unit)
        if kind == "directory":
            dir_outputs[key] = path

    for node in nodes:
        rp = RulePlan(node=node, after=[])
        if isinstance(node, Command):
            outs = {k: [o.path for o in v] for k, v in node.outputs.items()}
            for v in node.outputs.values():
                for o in v:
                    claim(o.path, o.kind, node.name, None)
            for v in node.inputs.values():
                for p in v:
                    _check_path(p, f"node {node.name!r} input")
            argv = job_argv(node)
            inputs = [p for v in node.inputs.values() for p in v]
            out_paths = [p for v in outs.values() for p in v]
            final = _final_argv(node, argv, inputs + out_paths, container_runtime, working_dir)
            job = Job(node.name, None, [(o.path, o.kind) for v in node.outputs.values() for o in v])
            rp.table[""] = {"i": inputs, "c": _job_command(rp, job, final, inputs, out_paths,
                                                            container_runtime, working_dir)}
            jobs.append(job)
        else:
            n_units = len(node.units)
            rp.batch_size = batch_size(node, max_jobs_per_fanout, units_per_job)
            if rp.batch_size > 1 and node.container and container_runtime == "apptainer":
                raise GraphError(f"node {node.name!r}: batched fan-outs cannot use apptainer "
                                 "containers; set units_per_job (and the node's batch_size) to "
                                 "1, or raise max_jobs_per_fanout")
            templates = [(k, o) for k, v in node.outputs.items() for o in v]
            argv_t = _argv_template(node.argv)
            docker = bool(node.container) and container_runtime == "docker"
            for u in node.units:
                uid = u.id
                outs: dict[str, list[str]] = defaultdict(list)
                job_outs = []
                for k, o in templates:
                    path = o.path.replace("{unit}", uid)
                    outs[k].append(path)
                    job_outs.append((path, o.kind))
                    claim(path, o.kind, node.name, uid)
                inputs = [p for v in u.inputs.values() for p in v]
                for p in inputs:
                    if "{" in p:
                        _check_path(p, f"node {node.name!r} unit {uid!r} input")
                argv = _substitute(argv_t, node.name, uid, u.inputs, outs, u.params)
                out_paths = [p for p, _ in job_outs]
                paths = inputs + out_paths if docker else []
                final = _final_argv(node, argv, paths, container_runtime, working_dir)
                job = Job(node.name, uid, job_outs)
                command = _job_command(rp, job, final, inputs, out_paths, container_runtime,
                                       working_dir)
                rp.table[uid] = {"i": inputs, "c": command}
                if rp.batch_size > 1:
                    rp.argvs[uid] = final
                    rp.specs[uid] = (job.command, job.inputs)
                jobs.append(job)
            if rp.batch_size > 1:
                ids = [u.id for u in node.units]
                rp.batches = [ids[i:i + rp.batch_size] for i in range(0, n_units, rp.batch_size)]
        rules.append(rp)

    batch_of: dict[tuple[str, str], str] = {}
    for rp in rules:
        for b, ids in enumerate(rp.batches):
            for uid in ids:
                batch_of[(rp.node.name, uid)] = f"batch{b:06d}"
    for j in jobs:
        if j.unit is not None:
            j.batch = batch_of.get((j.rule, j.unit))

    preds: dict[str, list[str]] = defaultdict(list)
    for a, b in comp_edges:
        preds[b].append(a)
    data_edges = _map_inputs(rules, producers, dir_outputs, batch_of, preds)
    _check_cycles([rp.node.name for rp in rules], comp_edges | data_edges)
    return Plan(rules=rules, jobs=jobs)


def runtime_limit(node: Node) -> dict[str, int]:
    """The job spec's runtime limit ("t", seconds) from the node's `runtime_min`, if set; the
    job runner stops a job that runs past it."""
    minutes = node.resources.runtime_min
    return {"t": minutes * 60} if minutes else {}


def _job_command(rp: RulePlan, job: Job, final: tuple[list[str], dict[str, str]],
                 inputs: list[str], outputs: list[str], runtime: str, working_dir: Path) -> str:
    """Record the job's command and absolute paths on `job`; return the shell command its
    rule runs: through `python -m pipecraft.provenance` when the job has outputs, which
    reads the job's spec line from the node's spec file."""
    argv, env = final
    job.command = shell_command(argv, env)
    job.inputs = [_abs(p, working_dir) for p in inputs]
    job.abs_outputs = [_abs(p, working_dir) for p in outputs]
    if not outputs:
        return job.command
    spec = {"c": job.command, "i": job.inputs, "o": job.abs_outputs, **runtime_limit(rp.node)}
    line = (json.dumps(spec, ensure_ascii=False) + "\n").encode("utf-8")
    offset = len(rp.provenance)
    rp.provenance += line
    python = "python3" if runtime == "apptainer" else sys.executable  # inside the container
    wrapper = [python, "-m", "pipecraft.provenance", provenance_specs(rp.node.name),
               str(offset), str(len(line)), "--"]
    return shell_command([*wrapper, *argv], env)


def _map_inputs(rules: list[RulePlan], producers: dict[str, tuple[str, str | None]],
                dir_outputs: dict[str, str], batch_of: dict[tuple[str, str], str],
                preds: dict[str, list[str]]) -> set[tuple[str, str]]:
    """Point each input at what Snakemake must build first; set the order markers each unit
    needs (see the module docstring); return node-level data edges.

    An input produced by a node (or inside a directory it produces) is replaced by the
    producing job's stamp, the only output Snakemake knows of a job. Any other input (a
    source) is required with `ancient()`: whether its content changed is the provenance
    record's business, not its mtime's. URLs are left to the job.
    """
    edges: set[tuple[str, str]] = set()
    for rp in rules:
        name = rp.node.name
        before = preds.get(name, [])
        before_set = set(before)
        reads_of: list[set[str]] = []  # per unit: the composition predecessors it reads from
        for uid, entry in rp.table.items():
            reads: set[str] = set()
            mapped: list[str] = []
            sources: list[str] = []
            for p in entry["i"]:
                key = _norm(p)
                hit = producers.get(key)
                target = p
                if hit is None and dir_outputs:
                    parent = os.path.dirname(key)
                    while parent and parent not in ("/", "."):
                        if parent in dir_outputs:
                            hit, target = producers[parent], dir_outputs[parent]
                            break
                        parent = os.path.dirname(parent)
                if hit is not None:
                    prod, unit = hit
                    if prod == name:
                        raise GraphError(
                            f"node {name!r}" + (f", unit {uid!r}," if uid else "")
                            + f" reads its own output {p!r}: a node cannot depend on itself")
                    edges.add((prod, name))
                    if prod in before_set:
                        reads.add(prod)
                    target = job_stamp(prod, batch_of.get((prod, unit)) or unit)
                    if target not in mapped:
                        mapped.append(target)
                elif "://" not in p and p not in sources:
                    sources.append(p)
            entry["i"] = mapped
            if sources:
                entry["a"] = sources
            if before:
                reads_of.append(reads)
        if not before:
            continue
        count = dict.fromkeys(before, 0)
        for reads in reads_of:
            for a in reads:
                count[a] += 1
        rp.after = sorted(a for a in before if count[a] == 0)
        some = sorted(a for a in before if 0 < count[a] < len(reads_of))
        if some:
            for entry, reads in zip(rp.table.values(), reads_of, strict=True):
                markers = [f"{DONE_DIR}/{a}" for a in some if a not in reads]
                if markers:
                    entry["a"] = entry.get("a", []) + markers
    return edges


def _check_cycles(names: list[str], edges: set[tuple[str, str]]) -> None:
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        if a == b:
            raise GraphError(f"the pipeline has a cycle: {a} -> {a}")
        succ[a].append(b)
    state: dict[str, int] = {}
    stack_path: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack_path.append(n)
        for m in succ[n]:
            if state.get(m) == 1:
                cyc = stack_path[stack_path.index(m):] + [m]
                raise GraphError("the pipeline has a cycle: " + " -> ".join(cyc))
            if m not in state:
                visit(m)
        stack_path.pop()
        state[n] = 2

    for n in names:
        if n not in state:
            visit(n)


HEADER = '''\
# Snakefile generated by pipecraft on {date}. Do not edit: re-generate it with
# SnakemakeBackend.compile(). Run it from this directory with plain Snakemake, e.g.
#     snakemake -c 2 --rerun-incomplete --keep-going
#
# One rule per pipeline node. A fan-out is one rule with the wildcard {{unit}}; its units,
# their inputs and their commands are in the job table jobs/<rule>.json next to this file.
# Each command is a precomputed, shell-quoted argv (params.cmd), so file names are data.
# params are functions so that Snakemake does not read {{braces}} in them as wildcards.
# Every job writes logs/<rule>/<unit>.log and benchmarks/<rule>/<unit>.tsv.
# <rule>__done rules touch .pipecraft/done/<rule> once a node is complete. In a Seq, a unit
# that reads nothing from an earlier node requires that node's marker with ancient(): it
# orders without forcing re-runs. (Per-unit markers: key "a" of the job table.)

import inspect
import json
import os

# the compiling install's bin folder, first on PATH where it exists (not inside a container)
_BIN = {bin!r}
if os.path.isdir(_BIN) and not os.environ.get("PATH", "").startswith(_BIN + os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _once(fn):
    # Snakemake inspects a function's signature at every call; record it once.
    fn._overwrite_params = inspect.signature(fn).parameters
    return fn


def _inputs(table):
    def inputs(wc):
        entry = table.get(wc.unit)
        if entry is None:
            return [{no_such!r}]
        after = entry.get("a")
        return entry["i"] + [ancient(p) for p in after] if after else entry["i"]
    return _once(inputs)


def _const(value):
    return _once(lambda wc: value)


def _param(table, key):
    return _once(lambda wc: table[wc.unit][key] if wc.unit in table else "")


def _mem(mb):
    return _once(lambda wc, attempt: mb * attempt)


def _outputs(templates, table):
    return _once(lambda wc: [t.replace("{{unit}}", u) for u in table for t in templates])


rule all:
    input:
{all_inputs}
'''


def _lit(s: str) -> str:
    """A Python string literal; json quoting is unambiguous and readable. Non-printable
    characters JSON leaves alone (\\x7f-\\x9f, \\u2028, ...) are escaped as well."""
    return _escape_unprintable(json.dumps(s, ensure_ascii=False))


def _rule_common(node: Node, log: str, bench: str, units: int = 1) -> list[str]:
    """Threads, resources and retries of a rule whose jobs run `units` units in turn: one
    unit's cores and memory, and the runtime of all of them."""
    res = node.resources
    lines = [f"    log: {_lit(log)}", f"    benchmark: {_lit(bench)}", f"    threads: {res.cores}"]
    resources = []
    if res.mem_mb:
        resources.append(f"mem_mb=_mem({res.mem_mb})")
    if res.runtime_min:
        resources.append(f"runtime={res.runtime_min * units}")
    if resources:
        lines.append(f"    resources: {', '.join(resources)}")
    if node.retries:
        lines.append(f"    retries: {node.retries}")
    return lines


#: environment variable naming the failed run's Snakemake log, for `Command(on_failure=True)`
FAILED_RUN_LOG = "PIPECRAFT_FAILED_RUN_LOG"

ON_FAILURE = '''
# ---- commands that also run when the run fails (Command(on_failure=True)), once every job
# that could run has ended; each finds the Snakemake log in ${env}, its output in its log.
# Its provenance record goes first: what it writes then is not the in-turn result, so the
# next run runs it again. Entries: (command, log, provenance record or None).
_ON_FAILURE = [
{commands}
]

onerror:
    import subprocess
    _log = log[0] if isinstance(log, (list, tuple)) else log
    for _cmd, _job_log, _record in _ON_FAILURE:
        if _record and os.path.exists(_record):
            os.unlink(_record)
        os.makedirs(os.path.dirname(_job_log), exist_ok=True)
        with open(_job_log, "wb") as _out:
            subprocess.run(["bash", "-c", _cmd], stdout=_out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env={{**os.environ, {env!r}: os.path.abspath(str(_log))}})
'''


def on_failure_log(rule: str) -> str:
    """The log of an on-failure command's run after a failed run."""
    return f"logs/{rule}/on_failure.log"


def render(plan_: Plan, working_dir: Path, container_runtime: str = "none") -> str:
    """The Snakefile text for a plan (job tables are written separately)."""
    parts = [HEADER.format(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        bin=os.path.dirname(sys.executable), no_such=NO_SUCH_UNIT,
        all_inputs="\n".join(f"        {_lit(f'{DONE_DIR}/{rp.node.name}')},"
                             for rp in plan_.rules))]
    for rp in plan_.rules:
        parts.append(_render_rule(rp, container_runtime))
    failing = {rp.node.name for rp in plan_.rules if isinstance(rp.node, Command) and rp.node.on_failure}
    finally_ = [j for j in plan_.jobs if j.rule in failing]
    if finally_:
        commands = "\n".join(
            f"    ({_lit(j.command)}, {_lit(on_failure_log(j.rule))}, "
            f"{_lit(record_path(j.abs_outputs[0])) if j.abs_outputs else None}),"
            for j in finally_
        )
        parts.append(ON_FAILURE.format(commands=commands, env=FAILED_RUN_LOG))
    return "\n".join(parts)


def _container_line(node: Node, runtime: str) -> list[str]:
    if node.container and runtime == "apptainer":
        return [f"    container: {_lit(node.container)}"]
    return []


def _render_rule(rp: RulePlan, runtime: str) -> str:
    node = rp.node
    name = node.name
    after = [f"        ancient({_lit(f'{DONE_DIR}/{a}')}),  # after node {a}" for a in rp.after]
    argv_doc = "# argv: " + _comment_text(" ".join(node.argv))
    out: list[str] = [""]
    if isinstance(node, Command):
        entry = rp.table[""]
        outs = [(k, o) for k, v in node.outputs.items() for o in v]
        out += [f"# ---- node {name}: command", argv_doc]
        out += [f"# writes {k}: {_comment_text(o.path)}" for k, o in outs]
        out.append(f"rule {name}:")
        sources = entry.get("a", [])
        if after or entry["i"] or sources:
            out.append("    input:")
        out += after
        out += [f"        {_lit(p)}," for p in entry["i"]]
        out += [f"        ancient({_lit(p)})," for p in sources]
        stamp = job_stamp(name, None)
        out += ["    output:", f"        touch({_lit(stamp)}),"]
        out.append(f"    params: cmd=_const({_lit(entry['c'])})")
        out += _rule_common(node, job_log(name, None), job_benchmark(name, None))
        out += _container_line(node, runtime)
        out.append('    shell: "( {params.cmd} ) > {log:q} 2>&1"')
        done_inputs = [_lit(stamp)]
        out += ["", f"rule {name}__done:", "    input:"]
        out += [f"        {p}," for p in done_inputs]
    else:
        table_var = f"J_{name}"
        n_units = len(node.units)
        if rp.batch_size > 1:
            out += [f"# ---- node {name}: fan-out over {n_units} units in {len(rp.batches)} batches "
                    f"of up to {rp.batch_size}; job table {JOBS_DIR}/{name}.json",
                    "# Each batch job runs its units in turn with pipecraft's batch runner, which",
                    "# writes the per-unit logs and benchmarks; unit list in "
                    f"{JOBS_DIR}/{name}.batches.jsonl", argv_doc,
                    f"{table_var} = _load({_lit(f'{JOBS_DIR}/{name}.json')})", "",
                    f"rule {name}:", "    input:"]
            out += after
            out += [f"        _inputs({table_var}),",
                    "    output:", f"        touch({_lit(job_stamp(name, '{unit}'))}),",
                    f"    params: cmd=_param({table_var}, 'c'), digest=_param({table_var}, 'd')"]
            out += _rule_common(node, batch_log(name, "{unit}"), batch_benchmark(name, "{unit}"),
                                rp.batch_size)
            done_inputs = [f"_outputs([{_lit(job_stamp(name, '{unit}'))}], {table_var})"]
        else:
            stamp = job_stamp(name, "{unit}")
            out += [f"# ---- node {name}: fan-out over {n_units} units; "
                    f"job table {JOBS_DIR}/{name}.json", argv_doc]
            out += [f"# writes {k}: {_comment_text(o.path)}"
                    for k, v in node.outputs.items() for o in v]
            out += [f"{table_var} = _load({_lit(f'{JOBS_DIR}/{name}.json')})", "",
                    f"rule {name}:", "    input:"]
            out += after
            out += [f"        _inputs({table_var}),", "    output:", f"        touch({_lit(stamp)}),"]
            out.append(f"    params: cmd=_param({table_var}, 'c')")
            out += _rule_common(node, job_log(name, "{unit}"), job_benchmark(name, "{unit}"))
            done_inputs = [f"_outputs([{_lit(stamp)}], {table_var})"]
        out.append('    wildcard_constraints: unit=r"[A-Za-z0-9._+-]+"')
        out += _container_line(node, runtime)
        out.append('    shell: "( {params.cmd} ) > {log:q} 2>&1"')
        out += ["", f"rule {name}__done:", "    input:"]
        out += [f"        {p}," for p in done_inputs]
    out += ["    output:", f"        touch({_lit(f'{DONE_DIR}/{name}')}),", "    localrule: True", ""]
    return "\n".join(out)


def batch_runner_lines(rp: RulePlan) -> list[tuple[str, str]]:
    """(batch id, JSON line) for a batched fan-out; the runner reads one line per job."""
    templates = [o for v in rp.node.outputs.values() for o in v]
    lines = []
    for b, ids in enumerate(rp.batches):
        units = [{"id": uid, "a": rp.argvs[uid][0], "e": rp.argvs[uid][1],
                  "c": rp.specs[uid][0], "i": rp.specs[uid][1],
                  "log": job_log(rp.node.name, uid), "bench": job_benchmark(rp.node.name, uid),
                  **runtime_limit(rp.node),
                  "o": [[o.path.replace("{unit}", uid), o.kind] for o in templates]}
                 for uid in ids]
        lines.append((f"batch{b:06d}", json.dumps({"rule": rp.node.name, "units": units},
                                                   ensure_ascii=False)))
    return lines


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write via a temp file in the same directory, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    data = text.encode("utf-8") if isinstance(text, str) else text
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_workflow(plan_: Plan, working_dir: Path, container_runtime: str = "none") -> Path:
    """Write jobs/*.json (and batch lists) and the Snakefile; return the Snakefile path."""
    with _no_gc():
        return _write_workflow(plan_, working_dir, container_runtime)


def _write_workflow(plan_: Plan, working_dir: Path, container_runtime: str) -> Path:
    jobs_dir = working_dir / JOBS_DIR
    for rp in plan_.rules:
        if rp.provenance and rp.batch_size == 1:
            write_atomic(working_dir / provenance_specs(rp.node.name), bytes(rp.provenance))
        if not isinstance(rp.node, FanOut):
            continue
        name = rp.node.name
        if rp.batch_size > 1:
            table: dict[str, dict] = {}
            blob = bytearray()
            rel = f"{JOBS_DIR}/{name}.batches.jsonl"
            for (bid, line), ids in zip(batch_runner_lines(rp), rp.batches, strict=True):
                raw = (line + "\n").encode("utf-8")
                runner = [sys.executable, "-m", "pipecraft._batchrun", rel, str(len(blob)),
                          str(len(raw))]
                inputs: list[str] = []
                after: list[str] = []
                seen: set[str] = set()
                for uid in ids:
                    entry = rp.table[uid]
                    for p in entry["i"]:
                        if p not in seen:
                            seen.add(p)
                            inputs.append(p)
                    for p in entry.get("a", ()):
                        if p not in after:
                            after.append(p)
                table[bid] = {"i": inputs, "c": shell_command(runner, {}),
                              "d": hashlib.sha1(raw).hexdigest()}
                if after:
                    table[bid]["a"] = after
                blob += raw
            write_atomic(working_dir / rel, bytes(blob))
        else:
            table = rp.table
        write_atomic(jobs_dir / f"{name}.json",
                     json.dumps(table, ensure_ascii=False, separators=(",", ":")))
    snakefile = working_dir / "Snakefile"
    write_atomic(snakefile, render(plan_, working_dir, container_runtime))
    return snakefile
