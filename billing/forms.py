"""Portal forms for rating: carriers, rate decks and their import, pricing plans. They only parse
input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.csvio import upload_within
from billing.decks import MAX_BYTES
from billing.models import MONEY, Carrier, PricingPlan, RateDeck
from billing.usage import SERVICES, groups_for
from tenants.forms import PeriodForm, brand_choice
from tenants.models import Brand, Client, User

MONEY_ATTRS = {"inputmode": "decimal"}
# The usage filter's choices, by name (the services of the call records, the groupings of billing.usage).
SERVICE_NAMES = {"all": pgettext_lazy("services", "All"), "call": _("Call"), "conference": _("Conference"),
                 "notification": _("Notification")}  # fmt: skip
GROUP_NAMES = {"brand": _("Brand"), "company": _("Company"), "person": _("Person")}


class CarrierForm(forms.Form):
    """A carrier: god may give a new one to a brand (empty: the platform's); a brand's are its own."""

    brand = forms.ModelChoiceField(
        Brand.objects.none(),
        required=False,
        label=_("Brand"),
        empty_label=_("The platform"),
        help_text=_("Whose carrier it is."),
    )
    name = forms.CharField(max_length=100, label=_("Name"))
    priority = forms.IntegerField(
        min_value=0,
        max_value=32767,
        initial=10,
        label=_("Priority"),
        help_text=_("Lower first: a call's cost comes from the first carrier with a rate."),
    )
    enabled = forms.BooleanField(required=False, initial=True, label=_("Enabled"))
    max_calls = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        initial=0,
        required=False,
        label=_("Maximum concurrent calls"),
        help_text=_("0: no limit."),
    )
    number_format = forms.ChoiceField(
        required=False,
        choices=Carrier.NumberFormat.choices,
        initial=Carrier.NumberFormat.PLUS,
        label=_("Number format"),
        help_text=_("How numbers are written to the carrier, and read from it."),
    )
    country = forms.CharField(
        max_length=2,
        initial="US",
        required=False,
        label=_("Country"),
        help_text=_("ISO 3166 code, for the national format."),
    )
    codecs = forms.CharField(
        max_length=100,
        initial="PCMU,PCMA",
        required=False,
        label=_("Codecs"),
        help_text=_("In order of preference: PCMA,G722."),
    )

    def __init__(self, *args, actor: User, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        brand_choice(self, actor=actor, creating=creating)

    def service_kwargs(self) -> dict:
        """The fields given: one left empty keeps its current value (a new carrier's default)."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class DeckForm(forms.Form):
    """A brand's deck: god chooses the brand when creating one."""

    brand = forms.ModelChoiceField(Brand.objects.none(), label=_("Brand"), empty_label=_("Choose a brand"))
    name = forms.CharField(max_length=100, label=_("Name"))
    currency = forms.CharField(
        max_length=3, initial="EUR", label=_("Currency"), help_text=_("ISO 4217, such as EUR or USD.")
    )

    def __init__(self, *args, actor: User, creating: bool, carrier: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        brand_choice(self, actor=actor, creating=creating)
        if carrier:
            del self.fields["name"]  # a carrier's deck has the carrier's name


class DeckImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=format_lazy(
            _(
                "Columns: prefix, description, price_per_minute and optionally connection_fee, initial_seconds, "
                "increment_seconds (60 and 60 by default), effective_from, effective_to. The file replaces the "
                "deck's rates when every row is good; at most {megabytes} MB."
            ),
            megabytes=MAX_BYTES // 1024 // 1024,
        ),
    )

    def clean_file(self):
        return upload_within(self.cleaned_data["file"], MAX_BYTES)


class DeckChoice(forms.ModelChoiceField):
    def label_from_instance(self, deck: RateDeck) -> str:
        return f"{deck.name} ({deck.currency})"


class PlanForm(forms.Form):
    kind = forms.ChoiceField(
        choices=PricingPlan.Kind.choices, widget=forms.RadioSelect, initial=PricingPlan.Kind.DECK, label=_("Kind")
    )
    deck = DeckChoice(RateDeck.objects.none(), label=_("Deck"), empty_label=_("Choose a deck"))
    monthly_fee = forms.DecimalField(
        **MONEY,
        min_value=0,
        required=False,
        widget=forms.TextInput(MONEY_ATTRS),
        label=_("Monthly fee"),
        help_text=_("Flat plans only."),
    )
    included_minutes = forms.IntegerField(
        min_value=0,
        max_value=10_000_000,
        required=False,
        label=_("Included minutes"),
        help_text=_("Flat plans only: per calendar month (UTC)."),
    )
    conference_rate = forms.DecimalField(
        **MONEY,
        min_value=0,
        required=False,
        widget=forms.TextInput(MONEY_ATTRS),
        label=_("Conference rate"),
        help_text=_("Per started minute of a conference join; empty: conference joins are listed as unrated."),
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deck"].queryset = RateDeck.objects.filter(brand_id=client.brand_id).order_by("name")

    def plan_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "deck": data["deck"],
            "monthly_fee": data["monthly_fee"] or 0,
            "included_minutes": data["included_minutes"] or 0,
            "conference_rate": data["conference_rate"],
        }


class UsageForm(PeriodForm):
    """The usage report's filter: days, service, grouping (the actor's choices), and the company and
    person ids that links narrow it to."""

    service = forms.ChoiceField(choices=[(s, SERVICE_NAMES.get(s, s.capitalize())) for s in SERVICES], required=False,
                                label=_("Service"))  # fmt: skip
    group = forms.ChoiceField(choices=[], required=False, label=_("Per"))
    client = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    person = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        choices = groups_for(actor)
        self.fields["since"].label, self.fields["until"].label = _("From"), _("To")
        self.fields["group"].choices = [(g, GROUP_NAMES.get(g, g.capitalize())) for g in choices]
        if len(choices) == 1:
            self.fields["group"].widget = forms.HiddenInput()

    def filters(self) -> dict:
        """The keyword arguments of billing.usage for the cleaned filter."""
        data = self.cleaned_data
        return {**self.period(), "service": data.get("service") or "all", "client_id": data.get("client"),
                "person_id": data.get("person")}  # fmt: skip
