"""OpenTelemetry export of a finished run: one span per job, built from the run summary.

Imported only when `use_opentelemetry=True`, so telemetry off costs nothing. Spans go to
an OTLP/HTTP endpoint (config, or the standard OTEL_EXPORTER_OTLP_ENDPOINT variables), or
else to `telemetry/spans.jsonl` in the working directory, one JSON object per line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

SPANS_FILE = "telemetry/spans.jsonl"


class JsonLinesExporter(SpanExporter):
    """Append finished spans to a file as JSON lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as f:
            for s in spans:
                f.write(s.to_json(indent=None) + "\n")
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _endpoint(configured: str | None) -> str | None:
    return (configured or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def export_spans(summary: dict, working_dir: Path, endpoint: str | None = None) -> None:
    """Emit a run span and one child span per job that ran (rule, unit, status, duration)."""
    url = _endpoint(endpoint)
    if url:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if not url.rstrip("/").endswith("/v1/traces"):
            url = url.rstrip("/") + "/v1/traces"
        exporter: SpanExporter = OTLPSpanExporter(endpoint=url)
    else:
        exporter = JsonLinesExporter(working_dir / SPANS_FILE)
    provider = TracerProvider(resource=Resource.create({"service.name": "pipecraft"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
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


def read_spans(working_dir: str | Path) -> list[dict]:
    """The spans a file-exported run wrote (for inspection and tests)."""
    path = Path(working_dir) / SPANS_FILE
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
