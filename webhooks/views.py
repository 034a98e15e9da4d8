"""Client portal pages for webhooks (the client's operators): the endpoints and routing webhooks,
an endpoint's page (its fields, its signing secret and rotation), its delivery log with each attempt
and replay, a routing webhook's page. Users do not see webhooks."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants.models import Role
from tenants.views.common import confirm_then, form_valid, own_client, paginated, role_required, service_call
from webhooks import services
from webhooks.forms import EndpointForm, RoutingWebhookForm
from webhooks.models import Delivery, Endpoint, RoutingWebhook


@role_required(Role.CLIENT)
def webhook_list(request: HttpRequest) -> HttpResponse:
    endpoints = Endpoint.objects.restrict(request.user)
    routing = RoutingWebhook.objects.restrict(request.user)
    context = {"title": _("Webhooks"), **paginated(request, endpoints, ["url", "description"]), "routing": routing}
    return render(request, "webhooks/webhook_list.html", context)


@role_required(Role.CLIENT)
def webhook_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    endpoint = Endpoint.objects.get_for(request.user, pk=pk) if pk is not None else None
    form = EndpointForm(request.POST or None, endpoint=endpoint)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.endpoint_save(actor=request.user, client=own_client(request), endpoint=copy(endpoint), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            saved = services.endpoint_save(actor=request.user, client=own_client(request), endpoint=endpoint,
                                           **form.cleaned_data)  # fmt: skip
        if call.ok:
            messages.success(request, _("Webhook %(url)s saved.") % {"url": saved.url})
            return redirect("webhook_edit", saved.pk)
    title = _("Webhook %(url)s") % {"url": endpoint.url} if endpoint else _("New webhook")
    return render(request, "webhooks/webhook_form.html", {"title": title, "form": form, "endpoint": endpoint})


@role_required(Role.CLIENT)
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = Endpoint.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.endpoint_delete(actor=request.user, client=own_client(request), endpoint=endpoint),
        title=_("Delete webhook %(url)s") % {"url": endpoint.url},
        question=_("Delete the webhook %(url)s and its delivery log?") % {"url": endpoint.url},
        submit=_("Delete webhook"),
        done=_("Webhook %(url)s deleted.") % {"url": endpoint.url},
        done_url=reverse("webhook_list"),
        back_url=reverse("webhook_edit", args=[pk]),
    )


@role_required(Role.CLIENT)
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = Endpoint.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.endpoint_secret_rotate(actor=request.user, client=own_client(request), endpoint=endpoint),
        title=_("New secret for %(url)s") % {"url": endpoint.url},
        question=_("Make a new signing secret? The current one signs nothing from now on."),
        submit=_("Make a new secret"),
        done=_("The webhook has a new signing secret."),
        done_url=reverse("webhook_edit", args=[pk]),
        back_url=reverse("webhook_edit", args=[pk]),
    )


@role_required(Role.CLIENT)
def webhook_deliveries(request: HttpRequest, pk: int) -> HttpResponse:
    endpoint = Endpoint.objects.get_for(request.user, pk=pk)
    rows = Delivery.objects.restrict(request.user).filter(endpoint=endpoint).prefetch_related("tries")
    context = {"title": _("Deliveries to %(url)s") % {"url": endpoint.url}, "endpoint": endpoint,
               **paginated(request, rows, ["event_type"])}  # fmt: skip
    return render(request, "webhooks/webhook_deliveries.html", context)


@role_required(Role.CLIENT)
@require_POST
def webhook_replay(request: HttpRequest, pk: int) -> HttpResponse:
    delivery = Delivery.objects.get_for(request.user, pk=pk)
    with service_call(request) as call:
        services.delivery_replay(actor=request.user, client=own_client(request), delivery=delivery)
    if call.ok:
        messages.success(request, _("Event %(id)s is sent again.") % {"id": delivery.event_id})
    return redirect("webhook_deliveries", delivery.endpoint_id)


@role_required(Role.CLIENT)
def webhook_routing_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    webhook = RoutingWebhook.objects.get_for(request.user, pk=pk) if pk is not None else None
    form = RoutingWebhookForm(request.POST or None, webhook=webhook)

    def check(data: dict) -> None:  # a dry run on the fields the form accepted (form_valid), on a copy
        services.routing_webhook_save(actor=request.user, client=own_client(request), webhook=copy(webhook), **data)

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            saved = services.routing_webhook_save(actor=request.user, client=own_client(request), webhook=webhook,
                                                  **form.values())  # fmt: skip
        if call.ok:
            messages.success(request, _("Routing webhook %(name)s saved.") % {"name": saved.name})
            return redirect("webhook_routing_edit", saved.pk)
    title = _("Routing webhook %(name)s") % {"name": webhook.name} if webhook else _("New routing webhook")
    return render(request, "webhooks/routing_form.html", {"title": title, "form": form, "webhook": webhook})


@role_required(Role.CLIENT)
def webhook_routing_delete(request: HttpRequest, pk: int) -> HttpResponse:
    webhook = RoutingWebhook.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: services.routing_webhook_delete(actor=request.user, client=own_client(request), webhook=webhook),
        title=_("Delete routing webhook %(name)s") % {"name": webhook.name},
        question=_("Delete the routing webhook %(name)s?") % {"name": webhook.name},
        submit=_("Delete routing webhook"),
        done=_("Routing webhook %(name)s deleted.") % {"name": webhook.name},
        done_url=reverse("webhook_list"),
        back_url=reverse("webhook_routing_edit", args=[pk]),
    )
