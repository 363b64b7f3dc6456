"""A span exporter for the tests: each finished span, one JSON object a line, appended to the
file TRACING_SPAN_FILE names, so that a test reads the spans of every process it started."""

import json
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class FileSpanExporter(SpanExporter):
    def __init__(self) -> None:
        self.path = os.environ["TRACING_SPAN_FILE"]

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(_record(span)) + "\n" for span in spans)
        # One write in append mode per batch: lines of processes side by side do not interleave.
        with open(self.path, "a") as out:
            out.write(lines)
        return SpanExportResult.SUCCESS


def _record(span: ReadableSpan) -> dict:
    context = span.get_span_context()
    return {
        "name": span.name,
        "kind": span.kind.name,
        "service": span.resource.attributes.get("service.name"),
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "attributes": {key: str(value) for key, value in (span.attributes or {}).items()},
        "status": span.status.status_code.name,
    }
