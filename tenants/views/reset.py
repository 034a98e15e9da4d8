"""Password reset pages of every portal: ask for a link, then choose a new password through it."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import SetPasswordForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.forms import NEW_PASSWORD_ATTRS
from tenants.reset import ResetThrottled, password_reset_complete, password_reset_request
from tenants.routing import actor_refusal
from tenants.signin import client_address
from tenants.views.common import service_call

SENT = gettext_lazy(
    "If an account with that address signs in here, we have sent it a link to choose a new password. "
    "It works once and for a limited time; check your spam folder if nothing arrives."
)


class ResetRequestForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True}))


def reset_request(request: HttpRequest) -> HttpResponse:
    """The same answer whether the address has an account on this portal or not."""
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            password_reset_request(
                portal=request.portal,
                email=form.cleaned_data["email"],
                address=client_address(request),
                base_url=f"{request.scheme}://{request.get_host()}",
            )
        except ResetThrottled as exc:
            form.add_error(None, exc.message)
            context = {"title": _("Reset password"), "form": form}
            return render(request, "portal/reset_request.html", context, status=429)
        messages.success(request, str(SENT))
        return redirect("login")
    return render(request, "portal/reset_request.html", {"title": _("Reset password"), "form": form})


class ResetSetPasswordForm(SetPasswordForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("new_password1", "new_password2"):
            self.fields[name].widget.attrs.update(NEW_PASSWORD_ATTRS)


class ResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's token check (it expires, and it covers the password, so it works once), limited to
    the accounts of this portal: another brand's or client's account finds an invalid link here."""

    template_name = "portal/reset_confirm.html"
    form_class = ResetSetPasswordForm
    title = gettext_lazy("Choose a new password")

    def get_user(self, uidb64):
        user = super().get_user(uidb64)
        if user is not None and actor_refusal(user, self.request.portal):
            return None
        return user

    def form_valid(self, form):
        with service_call(self.request, form, rename={"password": "new_password2"}) as call:
            password_reset_complete(account=self.user, password=form.cleaned_data["new_password1"])
        if not call.ok:
            return self.form_invalid(form)
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        messages.success(self.request, _("Your new password is set: sign in with it."))
        return redirect("login")
