"""Content-Security-Policy on the portals (tenants/security.py); the real browser's side is in
tests/e2e/test_browser.py."""

from __future__ import annotations

import re


def _nonce(response) -> str:
    return re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)


def test_every_page_carries_a_fresh_nonce_that_only_its_own_inline_code_has(world, portal):
    http = portal(world.brand_a_op)  # its clients page has inline code (a live view's script)
    first, second = http.get("/clients/"), http.get("/clients/")
    assert first.status_code == 200
    policy = first["Content-Security-Policy"]
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    host = world.host_of(world.brand_a_op)
    assert f"connect-src 'self' ws://{host} wss://{host}" in policy  # the live views' socket, nowhere else
    nonce = _nonce(first)
    assert nonce != _nonce(second)
    page = first.content.decode()
    assert f'<style nonce="{nonce}">' in page and f'<script nonce="{nonce}">' in page
    assert not re.search(r"<(script|style)>", page)  # no inline code without the nonce
    assert " on" + "click=" not in page


def test_error_pages_and_the_api_are_covered_too(world, portal, api):
    assert "Content-Security-Policy" in portal(host="nowhere.example").get("/login/")
    assert "Content-Security-Policy" in api(world.god).get("/api/v1/me/")
