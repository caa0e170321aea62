"""OpenTelemetry export of a finished run: one span per job, built from the run summary.

Imported only when `use_opentelemetry=True`, so telemetry off costs nothing. Spans go to
an OTLP/HTTP endpoint, or else to `telemetry/spans.jsonl` in the working directory, one
JSON object per line. The endpoint is, in order: the configured `otlp_endpoint` (a base
URL; `/v1/traces` is appended unless present), `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the
full URL, used as is), `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, plus `/v1/traces`).

Spans are built in memory, then sent in a few large requests under one overall deadline
(`EXPORT_BUDGET_S`), so an unreachable collector delays the end of a run by at most that
much; what is not sent by then is dropped with a warning on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

SPANS_FILE = "telemetry/spans.jsonl"
EXPORT_BUDGET_S = 5.0
SPANS_PER_REQUEST = 5_000
TRACES_PATH = "/v1/traces"


class _Collect(SpanExporter):
    """Keep finished spans in memory."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _with_traces_path(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def otlp_url(configured: str | None = None) -> str | None:
    """The OTLP/HTTP traces URL to send to, or None for the JSON-lines file."""
    if configured:
        return _with_traces_path(configured)
    if traces := os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return traces
    if base := os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return _with_traces_path(base)
    return None


def _send(spans: list[ReadableSpan], url: str, budget_s: float) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    deadline = time.monotonic() + budget_s
    for i in range(0, len(spans), SPANS_PER_REQUEST):
        remaining = deadline - time.monotonic()
        ok = False
        if remaining > 0:
            exporter = OTLPSpanExporter(endpoint=url, timeout=remaining)
            try:
                ok = exporter.export(spans[i:i + SPANS_PER_REQUEST]) == SpanExportResult.SUCCESS
            finally:
                exporter.shutdown()
        if not ok:
            print(f"pipecraft: could not send {len(spans) - i} OpenTelemetry span(s) to {url} "
                  f"within {budget_s:g} s; dropped", file=sys.stderr, flush=True)
            return


def export_spans(summary: dict, working_dir: Path, endpoint: str | None = None,
                 budget_s: float = EXPORT_BUDGET_S) -> None:
    """Emit a run span and one child span per job that ran (rule, unit, status, duration)."""
    collect = _Collect()
    provider = TracerProvider(resource=Resource.create({"service.name": "pipecraft"}))
    provider.add_span_processor(SimpleSpanProcessor(collect))
    tracer = provider.get_tracer("pipecraft")
    ns = 1_000_000_000
    root = tracer.start_span("pipecraft.run", start_time=int(summary["started"] * ns),
                             attributes={"working_dir": summary["working_dir"],
                                         "status": summary["status"]})
    from opentelemetry import trace

    ctx = trace.set_span_in_context(root)
    for job in summary["jobs"]:
        if job["status"] not in ("succeeded", "failed"):
            continue
        end = job["end_time"] or summary["ended"]
        duration = job["wall_s"] or 0.0
        span = tracer.start_span(
            f"{job['rule']}" + (f"/{job['unit']}" if job["unit"] else ""), context=ctx,
            start_time=int((end - duration) * ns),
            attributes={"rule": job["rule"], "unit": job["unit"] or "",
                        "status": job["status"], "duration_s": duration,
                        "log": job["log"]})
        span.end(end_time=int(end * ns))
    root.end(end_time=int(summary["ended"] * ns))
    provider.shutdown()
    url = otlp_url(endpoint)
    if url:
        _send(collect.spans, url, budget_s)
        return
    path = working_dir / SPANS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(s.to_json(indent=None) + "\n" for s in collect.spans)


def read_spans(working_dir: str | Path) -> list[dict]:
    """The spans a file-exported run wrote (for inspection and tests)."""
    path = Path(working_dir) / SPANS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
