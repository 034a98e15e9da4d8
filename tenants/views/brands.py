"""Brands: the platform operator manages them all; a brand operator edits its own settings."""

from __future__ import annotations

from copy import copy

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from tenants.forms import BrandForm, changes
from tenants.models import Brand, Role
from tenants.services import brand_check, brand_create, brand_delete, brand_update
from tenants.views.common import confirm_then, form_valid, paginated, role_required, service_call

THEME_FIELDS = ("primary_colour", "accent_colour")


def _initial(brand: Brand) -> dict:
    aliases = "\n".join(alias.domain for alias in brand.aliases.all())
    return {
        "name": brand.name,
        "domain": brand.domain,
        "aliases": aliases,
        "language": brand.language,
        **{n: getattr(brand, n) for n in THEME_FIELDS},
    }


def _checker(brand: Brand):
    """The service's checks of the brand form's accepted fields (see form_valid), on a copy of the brand."""

    def check(data: dict) -> None:
        upload = data.pop("logo", None)
        logo = upload.read() if upload else None
        if upload:
            upload.seek(0)
        brand_check(copy(brand), logo=logo, **data)

    return check


BRAND_SORT = {"name": "name", "domain": "domain", "clients": "client_count", "created": "created_at"}


@role_required(Role.GOD)
def brand_list(request: HttpRequest) -> HttpResponse:
    brands = Brand.objects.restrict(request.user).annotate(client_count=Count("clients")).order_by("name")
    context = {"title": _("Brands"), **paginated(request, brands, ["name", "domain"], sort=BRAND_SORT)}
    return render(request, "portal/brands/list.html", context)


@role_required(Role.GOD)
def brand_create_view(request: HttpRequest) -> HttpResponse:
    form = BrandForm(request.POST or None, request.FILES or None, creating=True)
    if request.method == "POST" and form_valid(form, _checker(Brand())):
        with service_call(request, form) as call:
            data = form.cleaned_data
            brand = brand_create(
                actor=request.user,
                name=data["name"],
                domain=data["domain"],
                language=data["language"],
                primary_colour=data["primary_colour"],
                accent_colour=data["accent_colour"],
                logo=form.logo_kwargs()["logo"],
                aliases=data["aliases"],
            )
        if call.ok:
            messages.success(
                request,
                _("Brand %(name)s created; its portal is at %(domain)s.")
                % {"name": brand.name, "domain": brand.domain},
            )
            return redirect("brand_update", pk=brand.pk)
    context = {"title": _("New brand"), "form": form, "submit": _("Create brand"), "cancel_url": reverse("brand_list")}
    return render(request, "portal/form_page.html", context)


def _brand_edit(request: HttpRequest, brand: Brand, *, title: str, template: str) -> HttpResponse:
    """The brand form: god's brand page and a brand's own settings page."""
    form = BrandForm(request.POST or None, request.FILES or None, initial=_initial(brand))
    if request.method == "POST" and form_valid(form, _checker(brand)):
        old_domain = brand.domain
        with service_call(request, form) as call:
            brand_update(
                actor=request.user,
                brand=brand,
                **changes(form, "name", "domain", "aliases", "language", *THEME_FIELDS),
                **form.logo_kwargs(),
            )
        if call.ok:
            messages.success(request, _("Brand saved."))
            if request.user.role == Role.BRAND and brand.domain != old_domain:
                # The portal moved with the domain: continue on the new host (the session stays behind).
                port = request.get_port()
                suffix = "" if port in ("80", "443") else f":{port}"
                return redirect(f"{request.scheme}://{brand.domain}{suffix}/")
            return redirect(request.path)
        brand.refresh_from_db()
    return render(request, template, {"title": title, "form": form, "brand": brand})


@role_required(Role.GOD)
def brand_update_view(request: HttpRequest, pk: int) -> HttpResponse:
    brand = Brand.objects.get_for(request.user, pk=pk)
    return _brand_edit(
        request, brand, title=_("Brand %(name)s") % {"name": brand.name}, template="portal/brands/detail.html"
    )


@role_required(Role.GOD)
def brand_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    brand = Brand.objects.get_for(request.user, pk=pk)
    return confirm_then(
        request,
        lambda: brand_delete(actor=request.user, brand=brand),
        title=_("Delete brand %(name)s") % {"name": brand.name},
        question=_("Delete the brand %(name)s and its operators? A brand with clients cannot be deleted.")
        % {"name": brand.name},
        submit=_("Delete brand"),
        done=_("Brand %(name)s deleted.") % {"name": brand.name},
        done_url=reverse("brand_list"),
        back_url=reverse("brand_update", args=[brand.pk]),
    )


@role_required(Role.BRAND)
def brand_settings(request: HttpRequest) -> HttpResponse:
    """A brand operator's own brand: name, domain and look."""
    brand = Brand.objects.get_for(request.user, pk=request.user.brand_id)
    return _brand_edit(request, brand, title=_("Brand settings"), template="portal/form_page.html")
