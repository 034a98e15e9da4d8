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


def speak(account, language: str) -> None:
    """The account's language, as it would set it on its account page ('' follows its client's)."""
    from tenants.services import account_update

    account_update(actor=account, account=account, language=language)


def page_text(response) -> str:
    """A page that answered 200, as text with its entities unescaped (to look for translated words)."""
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


def none_of(page: str, english) -> None:
    """None of these (English) texts is on the page."""
    left = [text for text in english if text in page]
    assert not left, left
