"""Content-Security-Policy for every portal page: only the platform's own files run, plus the inline
scripts and styles that carry this response's nonce (`{{ csp_nonce }}` in templates).

A script injected into a page (a name or a caller ID that escaped escaping) does not run, and a page
cannot be framed; the WebSocket of the live views may only go to the page's own host.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse


def policy(nonce: str, host: str | None) -> str:
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data:",
        f"connect-src 'self' ws://{host} wss://{host}" if host else "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])  # fmt: skip


class ContentSecurityPolicyMiddleware:
    """A fresh nonce per request (`request.csp_nonce`) and the policy header on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.csp_nonce = secrets.token_urlsafe(16)
        response = self.get_response(request)
        try:
            host = request.get_host()
        except DisallowedHost:  # answered 400 already; its page needs no socket
            host = None
        response.headers.setdefault("Content-Security-Policy", policy(request.csp_nonce, host))
        return response


def csp_context(request: HttpRequest) -> dict:
    return {"csp_nonce": getattr(request, "csp_nonce", "")}
