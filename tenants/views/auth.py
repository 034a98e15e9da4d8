"""Sign-in and out for every portal, theme assets and a health probe."""

from __future__ import annotations

import time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from tenants.i18n import language_of_account, remember_language
from tenants.models import User
from tenants.routing import actor_refusal
from tenants.second_factor import VERIFIED, WRONG_CODE, second_factor_of, second_factor_verify
from tenants.signin import (
    SignInLocked,
    attempt_reserve,
    client_address,
    signin_check,
    signin_failed,
    signin_released,
    signin_succeeded,
)

# A browser that was signed in carries this cookie (no secret in it): the sign-in page then tells
# the person that their session ended, rather than showing a bare form.
SIGNED_IN_COOKIE = "ocx_signed_in"
# The account that gave the right password and still owes its code: in the (anonymous) session.
PENDING = "ocx-second-factor-pending"
PENDING_SECONDS = 300


class PortalAuthenticationForm(AuthenticationForm):
    """Only the accounts that belong to this host's portal may sign in here, and wrong passwords
    lock the account and the address for a while (tenants/signin.py)."""

    username = forms.EmailField(label=gettext_lazy("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True}))

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


def _signed_in(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    # It outlives the session cookie, so that a session that ran out of time is told as such too.
    response.set_cookie(SIGNED_IN_COOKIE, "1", max_age=2 * settings.SESSION_COOKIE_AGE, httponly=True,
                        samesite="Lax", secure=settings.SESSION_COOKIE_SECURE)  # fmt: skip
    remember_language(response, language_of_account(request.user))  # this browser's sign-in page speaks it too
    return response


class LoginView(auth_views.LoginView):
    """The password first; an account with a second factor then gives its code (code_view)."""

    template_name = "portal/login.html"
    authentication_form = PortalAuthenticationForm
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if request.COOKIES.get(SIGNED_IN_COOKIE) and not request.user.is_authenticated:
            # Rendered lazily: a message added now still shows on this page.
            messages.info(request, _("Your session has ended: sign in again."))
            response.delete_cookie(SIGNED_IN_COOKIE, samesite="Lax")
        return response

    def form_valid(self, form):
        user = form.get_user()
        if second_factor_of(user) is not None:
            self.request.session[PENDING] = {
                "user": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": self.get_redirect_url(),
            }
            response = redirect("login_code")
            remember_language(response, language_of_account(user))  # the code's page speaks it
            return response
        return _signed_in(self.request, super().form_valid(form))


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=40,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=gettext_lazy("Lost your phone? Enter one of your recovery codes instead."),
    )


def _pending_account(request: HttpRequest) -> tuple[User | None, dict]:
    pending = request.session.get(PENDING) or {}
    if not pending or time.time() - pending.get("at", 0) > PENDING_SECONDS:
        return None, {}
    user = User.objects.filter(pk=pending["user"]).first()
    if user is None or actor_refusal(user, request.portal):
        return None, {}
    return user, pending


@sensitive_post_parameters("code")
@never_cache
def code_view(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the app (or a recovery code), counted like passwords."""
    user, pending = _pending_account(request)
    if user is None:
        request.session.pop(PENDING, None)
        messages.info(request, _("Sign in again: the code was not given in time."))
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        seconds = attempt_reserve(kind="code-", config=settings.OCX_SECOND_FACTOR, email=user.email, address=address)
        if seconds > 0:
            form.add_error(None, SignInLocked(seconds).message)
        elif second_factor_verify(account=user, code=form.cleaned_data["code"]):
            signin_succeeded(email=user.email, address=address, kind="code-")
            del request.session[PENDING]
            login(request, user, backend=pending["backend"])
            request.session[VERIFIED] = True
            target = pending.get("next") or ""
            if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
                target = settings.LOGIN_REDIRECT_URL
            return _signed_in(request, redirect(target))
        else:
            form.add_error("code", _(WRONG_CODE))
    return render(request, "portal/login_code.html", {"title": _("Second factor"), "form": form})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have signed out."))
    response = redirect("login")
    response.delete_cookie(SIGNED_IN_COOKIE, samesite="Lax")
    return response


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
