"""CSV answers from the API: `?format=csv` (or `Accept: text/csv`) on the views that offer it.

The views stream the file themselves (billing.csvio); the renderer only makes content negotiation
choose CSV. Errors stay JSON whatever was asked, so a bad date is still a field error. And the answer
to a CSV import's file with problems (csv_invalid_answer).
"""

from __future__ import annotations

import json

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from billing.csvio import CsvInvalid, csv_response


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # Reached only by an answer the view did not stream itself.
        return json.dumps(data, default=str).encode()


class CsvMixin:
    """For API views with a CSV form: `csv_actions` names the viewset actions that offer it (all of
    a plain view's methods when None)."""

    csv_actions: set[str] | None = None

    def get_renderers(self):
        renderers = super().get_renderers()
        if self.csv_actions is None or getattr(self, "action", None) in self.csv_actions:
            renderers.append(CsvRenderer())
        return renderers

    def wants_csv(self) -> bool:
        renderer = getattr(self.request, "accepted_renderer", None)
        return renderer is not None and renderer.format == "csv"

    def csv(self, columns: list[str], rows, *, filename: str):
        return csv_response(self.request, columns, rows, filename=filename, bom=False)

    def handle_exception(self, exc):
        if self.wants_csv():
            self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)


def csv_invalid_answer(exc: CsvInvalid) -> Response:
    """An import's file with problems: the error's code and sentence, each problem as a message of the
    `file` field and by line and column in `problems`, and how many more there were."""
    problems = [{"line": p.line, "column": p.column, "message": p.message} for p in exc.problems]
    answer = {"code": exc.code, "detail": exc.message, "fields": {"file": [str(p) for p in exc.problems]},
              "problems": problems, "more": exc.more}  # fmt: skip
    return Response(answer, status=exc.status)
