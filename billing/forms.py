"""Portal forms for rating: carriers, rate decks and their import, pricing plans. They only parse
input; the services validate and write."""

from __future__ import annotations

from django import forms

from billing.decks import MAX_BYTES
from billing.models import MONEY, Carrier, PricingPlan, RateDeck
from billing.usage import SERVICES, groups_for
from tenants.forms import PeriodForm
from tenants.models import Brand, Client, Role, User

MONEY_ATTRS = {"inputmode": "decimal"}


class CarrierForm(forms.Form):
    """A carrier: god may give a new one to a brand (empty: the platform's); a brand's are its own."""

    brand = forms.ModelChoiceField(
        Brand.objects.none(), required=False, empty_label="The platform", help_text="Whose carrier it is."
    )
    name = forms.CharField(max_length=100)
    priority = forms.IntegerField(
        min_value=0,
        max_value=32767,
        initial=10,
        help_text="Lower first: a call's cost comes from the first carrier with a rate.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    max_calls = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        initial=0,
        required=False,
        label="Maximum concurrent calls",
        help_text="0: no limit.",
    )
    number_format = forms.ChoiceField(
        required=False,
        choices=Carrier.NumberFormat.choices,
        initial=Carrier.NumberFormat.PLUS,
        help_text="How numbers are written to the carrier, and read from it.",
    )
    country = forms.CharField(
        max_length=2, initial="US", required=False, help_text="ISO 3166 code, for the national format."
    )
    codecs = forms.CharField(
        max_length=100, initial="PCMU,PCMA", required=False, help_text="In order of preference: PCMA,G722."
    )

    def __init__(self, *args, actor: User, creating: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role == Role.GOD and creating:
            self.fields["brand"].queryset = Brand.objects.restrict(actor).order_by("name")
        else:
            del self.fields["brand"]

    def service_kwargs(self) -> dict:
        """The fields given: one left empty keeps its current value (a new carrier's default)."""
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class DeckForm(forms.Form):
    """A brand's deck: god chooses the brand when creating one."""

    brand = forms.ModelChoiceField(Brand.objects.none(), empty_label="Choose a brand")
    name = forms.CharField(max_length=100)
    currency = forms.CharField(max_length=3, initial="EUR", help_text="ISO 4217, such as EUR or USD.")

    def __init__(self, *args, actor: User, creating: bool, carrier: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role != Role.GOD or not creating:
            del self.fields["brand"]
        else:
            self.fields["brand"].queryset = Brand.objects.restrict(actor).order_by("name")
        if carrier:
            del self.fields["name"]  # a carrier's deck has the carrier's name


class DeckImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            "Columns: prefix, description, price_per_minute and optionally connection_fee, initial_seconds, "
            "increment_seconds (60 and 60 by default), effective_from, effective_to. The file replaces the deck's "
            f"rates when every row is good; at most {MAX_BYTES // 1024 // 1024} MB."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")
        return upload


class DeckChoice(forms.ModelChoiceField):
    def label_from_instance(self, deck: RateDeck) -> str:
        return f"{deck.name} ({deck.currency})"


class PlanForm(forms.Form):
    kind = forms.ChoiceField(choices=PricingPlan.Kind.choices, widget=forms.RadioSelect, initial=PricingPlan.Kind.DECK)
    deck = DeckChoice(RateDeck.objects.none(), empty_label="Choose a deck")
    monthly_fee = forms.DecimalField(
        **MONEY, min_value=0, required=False, widget=forms.TextInput(MONEY_ATTRS), help_text="Flat plans only."
    )
    included_minutes = forms.IntegerField(
        min_value=0, max_value=10_000_000, required=False, help_text="Flat plans only: per calendar month (UTC)."
    )
    conference_rate = forms.DecimalField(
        **MONEY,
        min_value=0,
        required=False,
        widget=forms.TextInput(MONEY_ATTRS),
        help_text="Per started minute of a conference join; empty: conference joins are listed as unrated.",
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

    service = forms.ChoiceField(choices=[(s, s.capitalize()) for s in SERVICES], required=False, label="Service")
    group = forms.ChoiceField(choices=[], required=False, label="Per")
    client = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    person = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        choices = groups_for(actor)
        self.fields["group"].choices = [(g, g.capitalize()) for g in choices]
        if len(choices) == 1:
            self.fields["group"].widget = forms.HiddenInput()

    def filters(self) -> dict:
        """The keyword arguments of billing.usage for the cleaned filter."""
        data = self.cleaned_data
        return {**self.period(), "service": data.get("service") or "all", "client_id": data.get("client"),
                "person_id": data.get("person")}  # fmt: skip
