"""Host -> portal routing: which portal a host serves, which schema it uses, who may use it.

The platform hosts serve the god portal, a brand's domain its brand portal, a client's domain the
client portal (operators) and self-service portal (users). The same rule decides for HTTP
requests, API tokens and WebSocket connections (`actor_refusal`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import logout
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from tenants.dates import zone_named
from tenants.models import Brand, Client, Domain, Role

URLCONFS = {
    "god": "config.urls_god",
    "brand": "config.urls_brand",
    "client": "config.urls_client",
}


@dataclass(frozen=True)
class Portal:
    """What a host serves: the god portal, one brand's portal or one client's portal."""

    kind: str  # "god" | "brand" | "client"
    brand: Brand | None = None
    client: Client | None = None

    @property
    def theme(self) -> dict:
        """Colours for the page: the client's override, else its brand's, else the platform's."""
        colours = {"primary": "#1f4e79", "accent": "#e07a1f"}
        for owner in (self.brand, self.client):
            if owner is not None:
                colours["primary"] = owner.primary_colour or colours["primary"]
                colours["accent"] = owner.accent_colour or colours["accent"]
        return colours

    @property
    def zone(self) -> dt.tzinfo:
        """The time zone the portal's pages show and read times in: a client's own, else UTC."""
        return zone_named(self.client.timezone) if self.client is not None else dt.UTC

    @property
    def logo_owner(self):
        for owner in (self.client, self.brand):
            if owner is not None and owner.logo:
                return owner
        return None

    @property
    def title(self) -> str:
        if self.client is not None:
            return self.client.name
        if self.brand is not None:
            return self.brand.name
        return "OpenCentrex"


def host_of(request_host: str) -> str:
    host = request_host.rsplit(":", 1)[0] if not request_host.endswith("]") else request_host
    return host.strip().lower().rstrip(".")


def portal_for_host(host: str) -> Portal | None:
    """The portal a host name serves, or None for a host the platform does not know."""
    if host in settings.OCX_PLATFORM_HOSTS:
        return Portal("god")
    brand = Brand.objects.filter(Q(domain=host) | Q(aliases__domain=host)).first()
    if brand is not None:
        return Portal("brand", brand=brand)
    domain = Domain.objects.select_related("tenant__brand").filter(domain=host).first()
    if domain is not None and domain.tenant.status != Client.Status.DELETED:
        return Portal("client", brand=domain.tenant.brand, client=domain.tenant)
    return None


def actor_refusal(user, portal: Portal) -> str | None:
    """Why this account may not act on this portal (a stable code), or None when it may."""
    if user is None or not user.is_authenticated or not user.is_active:
        return "not-authenticated"
    if portal.kind == "god":
        fits = user.role == Role.GOD
    elif portal.kind == "brand":
        fits = user.role == Role.BRAND and user.brand_id == portal.brand.pk
    else:
        fits = user.role in (Role.CLIENT, Role.USER) and user.client_id == portal.client.pk
    if not fits:
        return "not-authenticated"
    if portal.client is not None and not portal.client.is_active:
        return "client-suspended"
    return None


def enter_schema(portal: Portal) -> None:
    if portal.client is not None:
        connection.set_tenant(portal.client)
    else:
        connection.set_schema_to_public()


class PortalMiddleware:
    """Resolve the host to a portal, enter its schema and pick its URL configuration."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        connection.set_schema_to_public()
        portal = portal_for_host(host_of(request.get_host()))
        if portal is None:
            raise Http404("This host is not served here.")
        request.portal = portal
        request.tenant = portal.client
        request.urlconf = URLCONFS[portal.kind]
        enter_schema(portal)
        # Pages show and read times in the portal's zone; the API speaks UTC whatever the portal.
        zone = dt.UTC if request.path.startswith("/api/") else portal.zone
        try:
            with timezone.override(zone):
                return self.get_response(request)
        finally:
            connection.set_schema_to_public()


class ScopeGuardMiddleware:
    """A session only counts on the portal its account belongs to; a suspended client is shut."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        portal = request.portal
        if portal.client is not None and not portal.client.is_active:
            if request.user.is_authenticated:
                logout(request)
            return suspended_response(request)
        if request.user.is_authenticated and actor_refusal(request.user, portal):
            logout(request)
        return self.get_response(request)


def suspended_response(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"code": "client-suspended", "detail": "This client is suspended."}, status=403)
    # Middleware answers are not rendered by Django's template-response phase: render here.
    return TemplateResponse(request, "suspended.html", status=403).render()


def portal_context(request: HttpRequest) -> dict:
    portal = getattr(request, "portal", None)
    if portal is None:
        return {}
    return {"portal": portal, "theme": portal.theme, "time_zone": timezone.get_current_timezone_name()}
