"""Files served by the portals' own views (in scope, so not as static files), with HTTP range
support (RFC 9110 section 14): browsers' audio players ask for byte ranges to start and to seek."""

from __future__ import annotations

import re
from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _range(header: str, size: int) -> tuple[int, int] | str | None:
    """The (first, last) byte asked for; None to answer the whole file (no Range header, or one this
    view does not serve, such as several ranges: RFC 9110 lets a server ignore it); "unsatisfiable"."""
    found = RANGE.match(header.strip())
    if found is None or not (found[1] or found[2]):
        return None
    if not found[1]:  # the last N bytes
        suffix = int(found[2])
        return (max(0, size - suffix), size - 1) if suffix and size else "unsatisfiable"
    first = int(found[1])
    last = min(int(found[2]), size - 1) if found[2] else size - 1
    if found[2] and int(found[2]) < first:
        return None  # not a valid range: ignored
    return (first, last) if first < size else "unsatisfiable"


def ranged_file(request: HttpRequest, path: Path, content_type: str) -> HttpResponse:
    """The file at `path`, whole (200) or the one byte range asked for (206, or 416 past its end)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise Http404("No such file.") from None
    size = path.stat().st_size
    asked = _range(request.headers.get("Range", ""), size)
    if asked is None:
        response = FileResponse(handle, content_type=content_type)
    elif asked == "unsatisfiable":
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    else:
        first, last = asked
        with handle:
            handle.seek(first)
            response = HttpResponse(handle.read(last - first + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
