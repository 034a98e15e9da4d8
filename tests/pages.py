"""Reading portal pages in tests: titles, field errors, messages and secrets shown once."""

from __future__ import annotations

import html
import re


def title_of(response) -> str:
    """The page's own title (before the portal's name)."""
    return re.search(r"<title>(.*?) · ", response.content.decode(), re.S).group(1).strip()


def field_error(response, field: str) -> str:
    """The error shown next to a form field ('' when there is none)."""
    match = re.search(rf'<p class="error" id="{field}-error">(.*?)</p>', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else ""


def errors_above_form(response) -> str:
    """The form's errors that belong to no single field."""
    match = re.search(r'<div class="errors" role="alert">(.*?)</div>', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else ""


def messages_of(response) -> list[str]:
    """The flash messages a page shows."""
    return [str(m) for m in response.context["messages"]] if response.context else []


def secret_on(response) -> str | None:
    """A secret or key shown once on the page, if any."""
    match = re.search(r'<p class="secret">([^<]+)</p>', response.content.decode())
    return match.group(1) if match else None
