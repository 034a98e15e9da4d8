"""The first page of each portal: an operator's dashboard, an employee's home."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from telephony.models import Extension
from tenants.figures import dashboard_figures
from tenants.models import Client, Role, User
from tenants.selectors import dashboard
from tenants.services import client_primary_domain


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Dashboard for operators (live figures and counts within their scope), profile for employees."""
    user: User = request.user
    if user.role == Role.USER:
        extension = Extension.objects.restrict(user).first()
        return render(request, "portal/home_user.html", {"title": _("Home"), "extension": extension})
    context = {"title": _("Dashboard"), **dashboard(actor=user), "live": dashboard_figures(actor=user)}
    if user.role == Role.CLIENT:
        client = Client.objects.get_for(user, pk=user.client_id)
        context.update(
            client=client,
            domain=client_primary_domain(client),
            extension_count=Extension.objects.restrict(user).count(),
        )
    elif user.role == Role.BRAND:
        context["recent_clients"] = Client.objects.restrict(user).order_by("-created_at")[:5]
    return render(request, f"portal/dashboard_{user.role}.html", context)
