"""The API's JSON parser: DRF's, with a body nested too deep for Python's JSON decoder (a RecursionError,
which is no ValueError) a 400 like any other malformed JSON rather than a 500."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep.") from None
