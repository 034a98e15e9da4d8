"""Portal forms for a client's employees and their lines. The services validate and write."""

from __future__ import annotations

from django import forms

from tenants.forms import NEW_PASSWORD_ATTRS, AccountForm

PASSWORD_HELP = "The employee's portal password, at least 10 characters."


class UserCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    email = forms.EmailField(label="E-mail")
    password = forms.CharField(widget=forms.PasswordInput(attrs=NEW_PASSWORD_ATTRS), help_text=PASSWORD_HELP)
    number = forms.CharField(max_length=4, label="Extension", help_text="2 to 4 digits.")
    display_name = forms.CharField(
        max_length=100,
        required=False,
        label="Caller name",
        help_text="Shown on the phones called; empty uses the name.",
    )
    sip_username = forms.CharField(
        max_length=64, required=False, label="SIP user name", help_text="Empty uses the extension number."
    )


class UserForm(AccountForm):
    """An employee's line and account, as the client's operators edit them."""

    number = forms.CharField(max_length=4, label="Extension", help_text="2 to 4 digits.")
    display_name = forms.CharField(max_length=100, label="Caller name")
    field_order = ["number", "display_name", "name", "email", "is_active", "password"]


class SecretResetForm(forms.Form):
    sip_username = forms.CharField(
        max_length=64, required=False, label="New SIP user name", help_text="Optional; empty keeps the current one."
    )
