"""Portal forms of the exports: the export's filters and a push destination. They parse; services write."""

from __future__ import annotations

from django import forms

from exports.models import PushDestination
from exports.selectors import CdrFilter
from records.models import Cdr
from tenants.forms import PeriodForm
from tenants.models import Brand, Client, Role, User


class ExportForm(PeriodForm):
    """Calls made on these days (both included, in the portal's time zone), of a company, a service
    and a direction."""

    client = forms.ModelChoiceField(Client.objects.none(), required=False, label="Company", empty_label="All")
    service = forms.ChoiceField(choices=[("", "All"), *Cdr.Service.choices], required=False)
    direction = forms.ChoiceField(choices=[("", "All"), *Cdr.Direction.choices], required=False)
    bom = forms.BooleanField(required=False, initial=True, label="BOM for spreadsheets")

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role in (Role.GOD, Role.BRAND):
            self.fields["client"].queryset = Client.objects.restrict(actor).order_by("name")
        else:
            del self.fields["client"]

    def filters(self) -> CdrFilter:
        data = self.cleaned_data
        client = data.get("client")
        return CdrFilter(
            **self.period(),
            client=client.pk if client else None,
            service=data.get("service") or "",
            direction=data.get("direction") or "",
        )


class DestinationForm(forms.ModelForm):
    """A push destination; the secret is write-only (left empty, the stored one stays)."""

    secret = forms.CharField(
        required=False,
        label="Password or private key",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Stored encrypted and never shown again; leave empty to keep the stored one.",
    )
    starts_at = forms.DateTimeField(required=False, label="Send records finished from",
                                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    help_text="In the portal's time zone; empty: from now on.")  # fmt: skip

    class Meta:
        model = PushDestination
        fields = ["name", "brand", "client", "protocol", "host", "port", "username", "uses_key", "host_key",
                  "tls_verify", "remote_dir", "schedule", "every_minutes", "daily_at", "bom", "alert_emails",
                  "enabled"]  # fmt: skip
        labels = {"username": "User name", "uses_key": "Log in with a key (SFTP)",
                  "host_key": "Server's public key (SFTP)", "tls_verify": "Check the server's certificate (FTPS)",
                  "remote_dir": "Directory on the server", "every_minutes": "Every how many minutes",
                  "daily_at": "Daily at", "bom": "BOM for spreadsheets", "alert_emails": "Alert e-mails"}  # fmt: skip
        widgets = {"daily_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "host_key": forms.Textarea(attrs={"rows": 2})}  # fmt: skip

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        editing = self.instance.pk is not None
        if actor.role == Role.GOD and not editing:
            self.fields["brand"].queryset = Brand.objects.order_by("name")
            self.fields["brand"].required = False
        else:
            del self.fields["brand"]
        if actor.role in (Role.GOD, Role.BRAND) and not editing:
            self.fields["client"].queryset = Client.objects.restrict(actor).order_by("name")
            self.fields["client"].empty_label = "Every client of the brand"
        else:
            del self.fields["client"]
        if editing:
            del self.fields["starts_at"]
