"""Portal forms of the exports: the export's filters and a push destination. They parse; services write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from exports.models import PushDestination
from exports.selectors import CdrFilter
from records.models import Cdr
from tenants.forms import PeriodForm
from tenants.models import Brand, Client, Role, User

ALL = pgettext_lazy("services", "All")


class ExportForm(PeriodForm):
    """Calls made on these days (both included, in the portal's time zone), of a company, a service
    and a direction."""

    client = forms.ModelChoiceField(Client.objects.none(), required=False, label=_("Company"), empty_label=ALL)
    service = forms.ChoiceField(choices=[("", ALL), *Cdr.Service.choices], required=False, label=_("Service"))
    direction = forms.ChoiceField(choices=[("", ALL), *Cdr.Direction.choices], required=False, label=_("Direction"))
    bom = forms.BooleanField(required=False, initial=True, label=_("BOM for spreadsheets"))

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["since"].label, self.fields["until"].label = _("From"), _("To")
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
        label=_("Password or private key"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Stored encrypted and never shown again; leave empty to keep the stored one."),
    )
    starts_at = forms.DateTimeField(required=False, label=_("Send records finished from"),
                                    widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
                                    help_text=_("In the portal's time zone; empty: from now on."))  # fmt: skip

    class Meta:
        model = PushDestination
        fields = ["name", "brand", "client", "protocol", "host", "port", "username", "uses_key", "host_key",
                  "tls_verify", "remote_dir", "schedule", "every_minutes", "daily_at", "bom", "alert_emails",
                  "enabled"]  # fmt: skip
        labels = {"name": _("Name"), "brand": _("Brand"), "client": _("Client"), "protocol": _("Protocol"),
                  "host": _("Host"), "port": _("Port"), "username": _("User name"),
                  "uses_key": _("Log in with a key (SFTP)"), "host_key": _("Server's public key (SFTP)"),
                  "tls_verify": _("Check the server's certificate (FTPS)"), "remote_dir": _("Directory on the server"),
                  "schedule": _("Schedule"), "every_minutes": _("Every how many minutes"), "daily_at": _("Daily at"),
                  "bom": _("BOM for spreadsheets"), "alert_emails": _("Alert e-mails"),
                  "enabled": _("Enabled")}  # fmt: skip
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
            self.fields["client"].empty_label = _("Every client of the brand")
        else:
            del self.fields["client"]
        if editing:
            del self.fields["starts_at"]
