"""Which language a portal page speaks: the account's, else its client's, else its brand's, else English.

Before signing in, the language this browser's last account spoke (a cookie set at sign-in and when the
account changes its language), else the portal's (its client's or brand's), else the browser's
Accept-Language, else English. The API speaks English whoever calls: its errors' `code` is the stable part.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers

from tenants.models import Brand, Client, User

CODES = {code for code, _name in settings.LANGUAGES}
COOKIE_AGE = 365 * 24 * 3600


def language_of_account(account: User) -> str:
    """The language an account's pages speak."""
    client = account.client if account.client_id else None
    brand = account.brand if account.brand_id else (client.brand if client is not None else None)
    return _first(account.language, *_portal_choices(brand, client))


def _portal_choices(brand: Brand | None, client: Client | None) -> list[str]:
    return [client.language if client is not None else "", brand.language if brand is not None else ""]


def _first(*choices: str) -> str:
    return next((code for code in choices if code in CODES), settings.LANGUAGE_CODE)


def visitor_language(asked, client: Client) -> str:
    """The language a chat widget speaks to a visitor of the client's web site: the browser's when the
    platform speaks it ("fr-CA" is French), else the client's, else its brand's, else English."""
    primary = asked.split("-")[0].split("_")[0].lower() if isinstance(asked, str) else ""
    return _first(primary, *_portal_choices(client.brand, client))


def request_language(request: HttpRequest) -> str:
    """The language of this request's answer (see the module's docstring)."""
    if request.path.startswith("/api/"):
        return settings.LANGUAGE_CODE
    user = getattr(request, "user", None)
    portal = getattr(request, "portal", None)
    if user is not None and user.is_authenticated:
        if portal is None:
            return language_of_account(user)
        # The portal is the account's own (ScopeGuardMiddleware), with its client and brand at hand: no query.
        return _first(user.language, *_portal_choices(portal.brand, portal.client))
    remembered = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    if remembered in CODES:
        return remembered
    chosen = [code for code in _portal_choices(portal.brand, portal.client) if code in CODES] if portal else []
    return chosen[0] if chosen else translation.get_language_from_request(request)


def remember_language(response: HttpResponse, language: str) -> None:
    """The sign-in page of this browser speaks the language of its last account (sign-in, sign-out)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=COOKIE_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


class LanguageMiddleware:
    """Activate the request's language (after authentication: the account decides) for the view and its
    templates; the answer says which language it speaks (Content-Language) and varies with the cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request_language(request)
        request.LANGUAGE_CODE = language
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response
