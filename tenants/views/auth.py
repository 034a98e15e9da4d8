"""Sign-in and out for every portal, theme assets and a health probe."""

from __future__ import annotations

from django import forms
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from tenants.routing import actor_refusal
from tenants.signin import (
    SignInLocked,
    client_address,
    signin_check,
    signin_failed,
    signin_released,
    signin_succeeded,
)


class PortalAuthenticationForm(AuthenticationForm):
    """Only the accounts that belong to this host's portal may sign in here, and wrong passwords
    lock the account and the address for a while (tenants/signin.py)."""

    username = forms.EmailField(label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True}))

    def clean(self):
        email, address = self.data.get("username", ""), client_address(self.request)
        try:
            signin_check(email=email, address=address)
        except SignInLocked as exc:
            raise forms.ValidationError(exc.message, code="locked") from exc
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            signin_failed(email=email, address=address)
            raise
        if self.user_cache is not None:
            signin_succeeded(email=email, address=address)
        else:  # a field was missing: nothing was checked
            signin_released(email=email, address=address)
        return cleaned

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if actor_refusal(user, self.request.portal):
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("login")


def logo(request: HttpRequest) -> HttpResponse:
    owner = request.portal.logo_owner
    if owner is None:
        raise Http404
    response = HttpResponse(bytes(owner.logo), content_type=owner.logo_type)
    response["Cache-Control"] = "max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "portal": request.portal.kind})
