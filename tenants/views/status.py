"""The platform operator's status page: are the services up, and what runs."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _

from tenants.models import Role
from tenants.selectors import platform_status
from tenants.views.common import role_required


@role_required(Role.GOD)
def status(request: HttpRequest) -> HttpResponse:
    """PostgreSQL, Redis, Celery and the channel layer, probed on each view, plus library versions."""
    response = render(request, "portal/status.html", {"title": _("Platform status"), **platform_status()})
    add_never_cache_headers(response)
    return response
