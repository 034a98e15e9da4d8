"""Client companies: the brand (and the platform) manage them; a client's operators its settings."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from telephony.selectors import registration_counts
from tenants import services
from tenants.forms import ClientCreateForm, ClientForm, ClientSettingsForm, HardDeleteForm, changes
from tenants.models import Brand, Client, Role, User
from tenants.views.common import form_valid, paginated, role_required, service_call

OPERATORS = (Role.GOD, Role.BRAND)
ACTIONS = {
    "suspend": (services.client_suspend, gettext_lazy("Client %(name)s is suspended: its sign-in and API are closed.")),
    "activate": (services.client_activate, gettext_lazy("Client %(name)s is active again.")),
    "delete": (services.client_delete, gettext_lazy("Client %(name)s is deleted; activate it to bring it back.")),
}


def _clients(actor: User):
    return Client.objects.restrict(actor).select_related("brand").prefetch_related("domains")


CLIENT_SORT = {"name": "name", "brand": "brand__name", "slug": "slug", "kind": "kind", "max_calls": "max_calls",
               "status": "status"}  # fmt: skip


@role_required(*OPERATORS)
def client_list(request: HttpRequest) -> HttpResponse:
    """All clients in scope, searchable and filtered by status."""
    clients = _clients(request.user)
    status = request.GET.get("status", "")
    if status in Client.Status.values:
        clients = clients.filter(status=status)
    context = {
        "title": _("Clients"),
        "status": status,
        "statuses": Client.Status.choices,
        **paginated(request, clients, ["name", "slug", "sip_domain", "brand__name"], sort=CLIENT_SORT),
    }
    rows = list(context["rows"])
    counts = registration_counts([client.pk for client in rows])
    for client in rows:
        client.registered = counts[client.pk]  # live registrations, from the edge's location service
    context["rows"] = rows
    return render(request, "portal/clients/list.html", context)


@role_required(*OPERATORS)
def client_create_view(request: HttpRequest) -> HttpResponse:
    """A new client: its schema, portal domain and SIP domain are created with it."""
    user: User = request.user
    form = ClientCreateForm(request.POST or None, actor=user)

    def check(data: dict) -> None:  # the service's checks of the fields the form accepted (form_valid)
        brand = data.get("brand") if user.role == Role.GOD else Brand.objects.get_for(user, pk=user.brand_id)
        services.client_check_new(
            brand=brand,
            name=data.get("name"),
            slug=data.get("slug"),
            kind=data.get("kind"),
            max_calls=data.get("max_calls"),
            sip_digest=data.get("sip_digest"),
            timezone_name=data.get("timezone"),
            country=data.get("country") or "US",
            domain=data.get("domain"),
            sip_domain=data.get("sip_domain"),
        )

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        brand = data["brand"] if user.role == Role.GOD else Brand.objects.get_for(user, pk=user.brand_id)
        with service_call(request, form, rename={"timezone_name": "timezone"}) as call:
            client = services.client_create(
                actor=user,
                brand=brand,
                name=data["name"],
                slug=data["slug"],
                kind=data["kind"],
                max_calls=data["max_calls"],
                sip_digest=data["sip_digest"],
                timezone_name=data["timezone"],
                country=data["country"] or "US",
                domain=data["domain"],
                sip_domain=data["sip_domain"],
            )
        if call.ok:
            domain = services.client_primary_domain(client)
            messages.success(
                request,
                _("Client %(name)s created; its portal is at %(domain)s.") % {"name": client.name, "domain": domain},
            )
            return redirect("client_detail", pk=client.pk)
    context = {
        "title": _("New client"),
        "form": form,
        "submit": _("Create client"),
        "cancel_url": reverse("client_list"),
    }
    return render(request, "portal/form_page.html", context)


def _client_form(request: HttpRequest, client: Client, form_class: type) -> tuple:
    """A page's client form, bound on POST and saved through client_update: (form, saved)."""
    fields = [name for name in form_class.base_fields if name not in ("logo", "clear_logo")]
    current = {"domain": services.client_primary_domain(client)}
    initial = {name: current.get(name, getattr(client, name, None)) for name in fields}
    form = form_class(request.POST or None, request.FILES or None, initial=initial)

    def check(data: dict) -> None:  # the service's checks of the fields the form accepted (form_valid)
        upload, clear_logo = data.pop("logo", None), data.pop("clear_logo", False)
        logo = upload.read() if upload else None
        if upload:
            upload.seek(0)
        changed = {name: value for name, value in data.items() if name in fields and value != initial.get(name)}
        services.client_check(copy(client), logo=logo, clear_logo=clear_logo, **changed)

    if request.method != "POST" or not form_valid(form, check):
        return form, False
    with service_call(request, form) as call:
        services.client_update(actor=request.user, client=client, **form.logo_kwargs(), **changes(form, *fields))
    return form, call.ok


@role_required(*OPERATORS)
def client_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One client: its facts, the contract and theme form, and the status actions."""
    client = _clients(request.user).get_for(request.user, pk=pk)
    form, saved = _client_form(request, client, ClientForm)
    if request.method == "POST":
        if saved:
            messages.success(request, _("Client saved."))
            return redirect("client_detail", pk=client.pk)
        client.refresh_from_db()
    context = {
        "title": _("Client %(name)s") % {"name": client.name},
        "client": client,
        "domain": services.client_primary_domain(client),
        "form": form,
        "operators": User.objects.restrict(request.user).filter(client=client, role=Role.CLIENT),
        "can_hard_delete": request.user.role == Role.GOD and client.status == Client.Status.DELETED,
    }
    return render(request, "portal/clients/detail.html", context)


@require_POST
@role_required(*OPERATORS)
def client_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Suspend, activate or (reversibly) delete a client."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    client = Client.objects.get_for(request.user, pk=pk)
    service, outcome = ACTIONS[action]
    with service_call(request) as call:
        service(actor=request.user, client=client)
    if call.ok:
        messages.success(request, outcome % {"name": client.name})
    return redirect("client_detail", pk=client.pk)


@role_required(Role.GOD)
def client_hard_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Drop a deleted client's schema and rows for good, confirmed by typing its short name."""
    client = Client.objects.get_for(request.user, pk=pk)
    form = HardDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.client_hard_delete(actor=request.user, client=client, confirm=form.cleaned_data["confirm"])
        if call.ok:
            messages.success(
                request,
                _("Client %(name)s and its schema %(schema)s are gone.")
                % {"name": client.name, "schema": client.schema_name},
            )
            return redirect("client_list")
    context = {
        "title": _("Hard delete %(name)s") % {"name": client.name},
        "question": _(
            "This drops the schema %(schema)s with all of %(name)s's users, extensions and settings, and cannot "
            "be undone. Type %(slug)s to confirm."
        )
        % {"schema": client.schema_name, "name": client.name, "slug": client.slug},
        "form": form,
        "submit": _("Delete for good"),
        "cancel_url": reverse("client_detail", args=[client.pk]),
    }
    return render(request, "portal/confirm.html", context)


@role_required(Role.CLIENT)
def client_settings(request: HttpRequest) -> HttpResponse:
    """A client's own operators: time zone and theme override."""
    client = Client.objects.get_for(request.user, pk=request.user.client_id)
    form, saved = _client_form(request, client, ClientSettingsForm)
    if saved:
        messages.success(request, _("Settings saved."))
        return redirect("settings")
    return render(request, "portal/form_page.html", {"title": _("Settings"), "form": form})
