"""Portal forms of the phone-network side. They only parse input; pstn/services.py validates and writes."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from billing.models import MONEY, Carrier
from pstn.models import Gateway, Number, OutboundPolicy, OutboundRoute, RoutingPolicy
from pstn.services import POLICY_FIELDS, carriers_usable
from telephony import destinations
from tenants.forms import brand_choice
from tenants.models import Brand, Client, Role, User

MONEY_ATTRS = {"inputmode": "decimal"}
MAX_CSV_BYTES = 1024 * 1024


def _kind_choices() -> list[tuple[str, str]]:
    return [("", gettext("Nowhere (refused)"))] + [(k.name, k.label) for k in destinations.kinds()]


class GatewayForm(forms.Form):
    name = forms.CharField(max_length=60, label=_("Name"))
    host = forms.CharField(max_length=253, label=_("Host"),
                           help_text=_("An IP address or a DNS name (looked up by SRV, then A)."))  # fmt: skip
    port = forms.IntegerField(min_value=1, max_value=65535, required=False, label=_("Port"),
                              help_text=_("Empty: from DNS SRV, else 5060 (5061 for TLS)."))  # fmt: skip
    transport = forms.ChoiceField(choices=Gateway.Transport.choices, initial=Gateway.Transport.UDP,
                                  label=_("Transport"))  # fmt: skip
    register = forms.BooleanField(required=False, label=_("Register"),
                                  help_text=_("Keep the platform registered at this gateway."))  # fmt: skip
    username = forms.CharField(max_length=100, required=False, label=_("Username"),
                               help_text=_("For registration and challenged INVITEs."))  # fmt: skip
    password = forms.CharField(max_length=100, required=False, strip=False, label=_("Password"),
                               widget=forms.PasswordInput(render_value=False))  # fmt: skip
    clear_password = forms.BooleanField(required=False, label=_("Remove the password"))
    realm = forms.CharField(max_length=100, required=False, label=_("Realm"),
                            help_text=_("Empty: the realm the gateway challenges with."))  # fmt: skip
    inbound_networks = forms.CharField(
        required=False,
        label=_("Inbound networks"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Addresses or networks (CIDR) its calls come from, one per line; empty: the gateway's own address."
        ),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))

    def __init__(self, *args, password_set: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        password = self.fields["password"]
        password.help_text = _("Set: leave empty to keep it.") if password_set else _("None set.")
        if not password_set:
            del self.fields["clear_password"]

    def service_kwargs(self) -> dict:
        """The fields to save: an empty password keeps the current one unless removed."""
        data = dict(self.cleaned_data)
        clear = data.pop("clear_password", False)
        if clear:
            data["password"] = ""
        elif not data.get("password"):
            data.pop("password", None)
        return data


class CarrierChoice(forms.ModelChoiceField):
    def label_from_instance(self, carrier) -> str:
        return carrier.name if carrier.brand_id else gettext("%(name)s (platform)") % {"name": carrier.name}


class NumberForm(forms.Form):
    """A number of a brand's inventory: god chooses the brand when adding one."""

    brand = forms.ModelChoiceField(Brand.objects.none(), label=_("Brand"), empty_label=_("Choose a brand"))
    e164 = forms.CharField(max_length=40, label=_("Number"), help_text=_("E.164, such as +493012345678."))
    carrier = CarrierChoice(queryset=None, label=_("Carrier"), empty_label=_("Choose a carrier"))
    monthly_cost = forms.DecimalField(**MONEY, min_value=0, initial=0, widget=forms.TextInput(MONEY_ATTRS),
                                      label=_("Monthly cost"))  # fmt: skip
    monthly_price = forms.DecimalField(**MONEY, min_value=0, initial=0, widget=forms.TextInput(MONEY_ATTRS),
                                       label=_("Monthly price"))  # fmt: skip
    client = forms.ModelChoiceField(Client.objects.none(), required=False, label=_("Client"),
                                    empty_label=_("Free (no client)"))  # fmt: skip

    def __init__(self, *args, actor: User, brand: Brand | None, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        brand_choice(self, actor=actor, creating=creating)
        if not creating:
            del self.fields["e164"]
        brand_id = brand.pk if brand else None
        # God adding a number for a brand it chooses on the same form: any carrier (the service
        # refuses another brand's); everyone else: the carriers the number's brand may use.
        carriers = Carrier.objects.order_by("priority", "name") if brand is None else carriers_usable(brand_id)
        self.fields["carrier"].queryset = carriers
        clients = Client.objects.restrict(actor).order_by("name")
        self.fields["client"].queryset = clients.filter(brand_id=brand_id) if brand else clients


class NumberBulkForm(NumberForm):
    numbers = forms.CharField(
        required=False,
        label=_("Numbers"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "One a line: a number, or a range first-last (+493012345600-+493012345699), optionally "
            "followed by its monthly cost and price (CSV)."
        ),
    )
    file = forms.FileField(required=False, label=_("Or a CSV file"), help_text=_("The same lines, at most 1 MB."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, creating=True, **kwargs)
        del self.fields["e164"]
        self.fields["monthly_cost"].help_text = _("For lines that give none.")
        self.fields["monthly_price"].help_text = _("For lines that give none.")

    def clean(self):
        data = super().clean()
        upload = data.pop("file", None)
        if upload is not None:
            if upload.size > MAX_CSV_BYTES:
                self.add_error("file", gettext("The file is larger than 1 MB."))
                return data
            try:
                data["numbers"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("file", gettext("The file is not UTF-8 text."))
                return data
            if "\x00" in data["numbers"]:
                self.add_error("file", gettext("The file is not CSV text."))
        if not data.get("numbers") and not self.errors:
            self.add_error("numbers", gettext("Give the numbers, or a CSV file of them."))
        return data


class NumberRouteForm(forms.Form):
    """Where a client's number goes (the client's operators, and the brand)."""

    destination_kind = forms.ChoiceField(choices=[], required=False, label=_("Goes to"))
    destination_target = forms.CharField(max_length=100, required=False, label=_("Which"),
                                         help_text=_("An extension, a number, a conference id..."))  # fmt: skip
    schedule = forms.IntegerField(min_value=1, max_value=2**31 - 1, required=False,
                                  label=pgettext_lazy("office hours", "Schedule"),
                                  help_text=_("The client's schedule (its id); empty: always open."))  # fmt: skip
    closed_kind = forms.ChoiceField(choices=[], required=False, label=_("When closed, goes to"))
    closed_target = forms.CharField(max_length=100, required=False, label=_("Which, when closed"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["destination_kind"].choices = _kind_choices()
        self.fields["closed_kind"].choices = _kind_choices()


class RouteForm(forms.ModelForm):
    brand = forms.ModelChoiceField(Brand.objects.none(), label=_("Brand"), empty_label=_("Choose a brand"))

    class Meta:
        model = OutboundRoute
        fields = ["name", "pattern_kind", "pattern", "mode", "position", "enabled"]
        labels = {"name": _("Name"), "pattern_kind": _("Pattern kind"), "pattern": _("Pattern"), "mode": _("Mode"),
                  "position": _("Position"), "enabled": _("Enabled")}  # fmt: skip

    def __init__(self, *args, actor: User, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        brand_choice(self, actor=actor, creating=creating)
        self.fields["pattern"].max_length = 1000  # the service says "at most 200" naming the field
        self.fields["pattern"].validators = []
        self.fields["pattern"].help_text = _(
            "Prefix: digits of the E.164 number (empty: all). Or a regular expression."
        )

    def _post_clean(self):  # the service validates (field errors name the field)
        pass


class RouteCarrierForm(forms.Form):
    carrier = CarrierChoice(queryset=None, label=_("Carrier"), empty_label=_("Choose a carrier"))
    priority = forms.IntegerField(min_value=0, max_value=32767, initial=1, label=_("Priority"),
                                  help_text=_("Lower first."))  # fmt: skip
    weight = forms.IntegerField(min_value=0, max_value=32767, initial=1, label=_("Weight"),
                                help_text=_("Share, in weight mode."))  # fmt: skip

    def __init__(self, *args, brand_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["carrier"].queryset = carriers_usable(brand_id)


class RoutingPolicyForm(forms.ModelForm):
    class Meta:
        model = RoutingPolicy
        fields = ["min_asr", "max_server_errors", "window"]
        labels = {"min_asr": _("Lowest answer-seizure ratio (%)"), "max_server_errors": _("Most server errors (%)"),
                  "window": _("Recent calls judged")}  # fmt: skip

    def _post_clean(self):
        pass


class OutboundPolicyForm(forms.ModelForm):
    """All of it for the brand; the caller ID and main number for the client's own operators."""

    class Meta:
        model = OutboundPolicy
        fields = list(POLICY_FIELDS)
        widgets = {"blocked_prefixes": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "allow_national": _("Allow national"),
            "allow_mobile": _("Allow mobile"),
            "allow_international": _("Allow international"),
            "allow_premium": _("Allow premium"),
            "blocked_prefixes": _("Blocked prefixes"),
            "caller_id": _("Caller ID"),
            "main_number": _("Main number"),
            "international_calls_per_hour": _("International calls per hour"),
            "international_minutes_per_hour": _("International minutes per hour"),
        }

    def __init__(self, *args, client: Client, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["main_number"].queryset = Number.objects.filter(client=client).order_by("e164")
        self.fields["main_number"].empty_label = _("None")
        self.fields["blocked_prefixes"].max_length = 20_000
        if actor.role == Role.CLIENT:
            for name in list(self.fields):
                if name not in ("caller_id", "main_number"):
                    self.fields[name].disabled = True

    def _post_clean(self):
        pass

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.fields if not self.fields[name].disabled}
