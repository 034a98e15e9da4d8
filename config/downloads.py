"""File downloads (CSV exports and reports, export files) that stay streaming under daphne.

Django's ASGI handler reads a StreamingHttpResponse built on a plain iterator into a list before
sending it (django.http.response.StreamingHttpResponse.__aiter__), which would hold a whole export in
memory. Under ASGI the chunks are therefore pulled one by one through `sync_to_async` on the
request's thread (the database cursor lives there); the test client and WSGI get the iterator itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


async def _pulled(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    pull = sync_to_async(next, thread_sensitive=True)
    while (chunk := await pull(chunks, _END)) is not _END:
        yield chunk


def download(request, chunks: Iterator[bytes], *, filename: str, content_type: str = "text/csv; charset=utf-8"):
    """A file download of these chunks, streamed on both WSGI and ASGI."""
    http_request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    content = _pulled(chunks) if isinstance(http_request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def text_chunks(lines: Iterable[str], size: int = 1 << 16) -> Iterator[bytes]:
    """Lines of text joined into UTF-8 chunks of about `size` bytes: under ASGI each chunk is one
    hop to the request's thread, which a chunk per line would make the cost of the download."""
    part: list[str] = []
    length = 0
    for line in lines:
        part.append(line)
        length += len(line)
        if length >= size:
            yield "".join(part).encode()
            part, length = [], 0
    if part:
        yield "".join(part).encode()


def file_chunks(path: Path, size: int = 1 << 16) -> Iterator[bytes]:
    with path.open("rb") as data:
        while chunk := data.read(size):
            yield chunk
