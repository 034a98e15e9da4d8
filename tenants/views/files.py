"""Files served by the portals' own views (in scope, so not as static files), with HTTP range
support (RFC 9110 section 14): browsers' audio players ask for byte ranges to start and to seek."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse

# At most 18 digits a side (an exabyte): a longer number is no range this view serves, and Python
# refuses to read one of over 4300 digits at all (a 500 rather than the whole file).
RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")
CHUNK = 64 * 1024
IN_MEMORY = 1024 * 1024  # a larger part is streamed a chunk at a time


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


def _part(handle, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of the open file, a chunk at a time (a player's usual "bytes=0-" asks for the
    whole file: an hour's recording, over 100 MB, is not read into memory for it)."""
    with handle:
        handle.seek(first)
        left = last - first + 1
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


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
        if last - first + 1 <= IN_MEMORY:
            with handle:
                handle.seek(first)
                response = HttpResponse(handle.read(last - first + 1), status=206, content_type=content_type)
        else:
            response = StreamingHttpResponse(_part(handle, first, last), status=206, content_type=content_type)
            response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
