"""Portal forms for the hierarchy. They only parse input; the services validate and write."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from urllib.parse import urlencode

import phonenumbers
from django import forms
from django.conf import settings
from django.contrib.auth.forms import PasswordChangeForm
from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.dates import DAY_OUT_OF_RANGE, FIRST_DAY, LAST_DAY, day_start
from tenants.models import Brand, Client, Role, User
from tenants.services import CREATES, LOGO_MAX_BYTES
from tenants.signin import SignInLocked, signin_check, signin_failed, signin_succeeded

TIMEZONES = [(name, name) for name in sorted(zoneinfo.available_timezones())]
COUNTRIES = [(code, code) for code in sorted(phonenumbers.SUPPORTED_REGIONS)]
SHORT_NAME = RegexValidator(r"^[a-z0-9]+(-[a-z0-9]+)*$", _("Use lower-case letters, digits and single dashes."))
COLOUR_ATTRS = {"pattern": "#[0-9a-fA-F]{6}", "size": 8}
NEW_PASSWORD_ATTRS = {"autocomplete": "new-password"}


def language_choice(default: str) -> forms.ChoiceField:
    """A portal language; the empty choice leaves it to the level above (tenants/i18n.py)."""
    return forms.ChoiceField(
        choices=[("", default), *settings.LANGUAGES], required=False, label=_("Language of the portal")
    )


def brand_choice(form: forms.Form, *, actor: User, creating: bool) -> None:
    """Only the platform operator creating a row chooses its brand (among those it may see); anyone
    else, and a change, keeps the row's brand: the form's `brand` field goes."""
    if actor.role == Role.GOD and creating:
        form.fields["brand"].queryset = Brand.objects.restrict(actor).order_by("name")
    else:
        del form.fields["brand"]


def changes(form: forms.Form, *names: str) -> dict:
    """The named fields the user actually changed, with their cleaned values."""
    return {name: form.cleaned_data[name] for name in names if name in form.changed_data}


class ThemeForm(forms.Form):
    """Colours and logo of a brand or a client."""

    primary_colour = forms.CharField(
        required=False,
        max_length=7,
        label=_("Primary colour"),
        widget=forms.TextInput(attrs={**COLOUR_ATTRS, "placeholder": "#1f4e79"}),
        help_text=_("#rrggbb; empty uses the default."),
    )
    accent_colour = forms.CharField(
        required=False,
        max_length=7,
        label=_("Accent colour"),
        widget=forms.TextInput(attrs={**COLOUR_ATTRS, "placeholder": "#e07a1f"}),
    )
    logo = forms.FileField(
        required=False,
        label=_("Logo"),
        help_text=_("PNG or JPEG, at most 256 KB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )
    clear_logo = forms.BooleanField(required=False, label=_("Remove the logo"))

    def clean_logo(self):
        upload = self.cleaned_data.get("logo")
        if upload and upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError(_("A logo may be at most 256 KB."))
        return upload

    def logo_kwargs(self) -> dict:
        """logo= bytes and clear_logo= for the services."""
        upload = self.cleaned_data.get("logo")
        return {"logo": upload.read() if upload else None, "clear_logo": self.cleaned_data.get("clear_logo", False)}


class BrandForm(ThemeForm):
    name = forms.CharField(max_length=100, label=_("Name"))
    domain = forms.CharField(
        max_length=253, label=_("Domain"), help_text=_("Host of the brand's portal, such as portal.example.com.")
    )
    aliases = forms.CharField(
        required=False,
        label=_("Other domains"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("More host names for the portal, one per line."),
    )

    language = language_choice(_("English (the platform's)"))

    field_order = ["name", "domain", "aliases", "language", "primary_colour", "accent_colour", "logo", "clear_logo"]

    def clean_aliases(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["aliases"].splitlines() if line.strip()]

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if creating:
            del self.fields["clear_logo"]


SIP_DIGEST_HELP = _("What the SIP edge asks the client's phones for; choose SHA-256 only if all of them answer it.")


class ClientCreateForm(forms.Form):
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), label=_("Brand"))
    name = forms.CharField(max_length=100, label=_("Name"))
    # Dashes only: the short name becomes a host label, and its schema name turns dashes into underscores.
    slug = forms.CharField(
        max_length=40,
        label=_("Short name"),
        validators=[SHORT_NAME],
        help_text=_("Lower-case letters, digits and dashes; used in the default domains."),
    )
    kind = forms.ChoiceField(choices=Client.Kind.choices, label=_("Kind"))
    max_calls = forms.IntegerField(min_value=1, max_value=100000, initial=10, label=_("Maximum concurrent calls"))
    sip_digest = forms.ChoiceField(choices=Client.SipDigest.choices, required=False,
                                   label=_("SIP digest algorithms"), help_text=SIP_DIGEST_HELP)  # fmt: skip
    timezone = forms.ChoiceField(choices=TIMEZONES, initial="UTC", label=_("Time zone"))
    country = forms.ChoiceField(choices=COUNTRIES, initial="US", required=False, label=_("Country"),
                                help_text=_("How its users dial and see numbers."))  # fmt: skip
    domain = forms.CharField(max_length=253, required=False, label=_("Portal domain"),
                             help_text=_("Empty: <short name>.<brand domain>."))  # fmt: skip
    sip_domain = forms.CharField(max_length=253, required=False, label=_("SIP domain"),
                                 help_text=_("Empty: the same as the default portal domain."))  # fmt: skip

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        if actor.role == Role.GOD:
            self.fields["brand"].queryset = Brand.objects.restrict(actor)
        else:  # a brand operator creates clients of its own brand
            del self.fields["brand"]


class ClientForm(ThemeForm):
    """What the brand (or the platform) edits on a client."""

    name = forms.CharField(max_length=100, label=_("Name"))
    kind = forms.ChoiceField(choices=Client.Kind.choices, label=_("Kind"))
    max_calls = forms.IntegerField(min_value=1, max_value=100000, label=_("Maximum concurrent calls"))
    sip_digest = forms.ChoiceField(choices=Client.SipDigest.choices, required=False,
                                   label=_("SIP digest algorithms"), help_text=SIP_DIGEST_HELP)  # fmt: skip
    timezone = forms.ChoiceField(choices=TIMEZONES, label=_("Time zone"))
    country = forms.ChoiceField(choices=COUNTRIES, required=False, label=_("Country"),
                                help_text=_("How its users dial and see numbers."))  # fmt: skip
    domain = forms.CharField(max_length=253, label=_("Portal domain"))
    language = language_choice(_("The brand's"))

    field_order = ["name", "kind", "max_calls", "sip_digest", "timezone", "country", "language", "domain"]

    def clean_country(self) -> str:
        """Left out: the current country."""
        return self.cleaned_data["country"] or self.initial.get("country") or "US"


class ClientSettingsForm(ThemeForm):
    """What a client's own operators edit: time zone and their theme override."""

    timezone = forms.ChoiceField(choices=TIMEZONES, label=_("Time zone"))
    language = language_choice(_("The brand's"))

    field_order = ["timezone", "language"]


class HardDeleteForm(forms.Form):
    confirm = forms.CharField(max_length=40, label=_("Type the client's short name to confirm"))


class OperatorCreateForm(forms.Form):
    role = forms.ChoiceField(choices=(), label=_("Role"))
    name = forms.CharField(max_length=100, label=_("Name"))
    email = forms.EmailField(label=_("E-mail"))
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs=NEW_PASSWORD_ATTRS),
        help_text=_("At least 10 characters."),
    )
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), required=False, label=_("Brand"),
                                   help_text=_("For brand operators."))  # fmt: skip
    client = forms.ModelChoiceField(queryset=Client.objects.none(), required=False, label=_("Client"),
                                    help_text=_("For client operators."))  # fmt: skip

    def __init__(self, *args, actor: User, **kwargs):
        super().__init__(*args, **kwargs)
        creatable = CREATES.get(actor.role, set())
        self.fields["role"].choices = [(value, label) for value, label in Role.choices if value in creatable]
        self.fields["brand"].queryset = Brand.objects.restrict(actor)
        self.fields["client"].queryset = (
            Client.objects.restrict(actor).exclude(status=Client.Status.DELETED).select_related("brand")
        )
        if actor.role == Role.GOD:  # names repeat across brands
            self.fields["client"].label_from_instance = lambda client: f"{client.name} ({client.brand.name})"
        else:  # brand operators are of the actor's own brand
            del self.fields["brand"]
        if actor.role == Role.CLIENT:  # client operators of the actor's own client
            for name in ("role", "client"):
                del self.fields[name]


class AccountForm(forms.Form):
    """An account's name and e-mail (on its own account page, its language too); operators of the account also
    see its active flag."""

    name = forms.CharField(max_length=100, label=_("Name"))
    email = forms.EmailField(label=_("E-mail"))
    language = language_choice(_("Default"))
    is_active = forms.BooleanField(required=False, label=_("Active (may sign in)"))
    password = forms.CharField(
        required=False,
        label=_("New password"),
        widget=forms.PasswordInput(attrs=NEW_PASSWORD_ATTRS),
        help_text=_("Leave empty to keep the current password."),
    )

    def __init__(self, *args, own: bool = False, default_language: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if default_language:  # one's own account page: the empty choice says what it stands for
            names = dict(settings.LANGUAGES)
            label = _("Default: %(language)s") % {"language": names[default_language]}
            self.fields["language"].choices = [("", label), *settings.LANGUAGES]
        else:  # an account's language is its own choice, made on its own account page
            del self.fields["language"]
        if own:  # one's own account: no deactivating, and the password has its own page
            del self.fields["is_active"]
            del self.fields["password"]


class PasswordForm(PasswordChangeForm):
    """One's own password: the current one (counted against guessing like a sign-in), the new one
    twice, and whether to sign out everywhere else."""

    sign_out_elsewhere = forms.BooleanField(
        required=False,
        label=_("Sign out everywhere else"),
        help_text=_("Also revoke all my API tokens. My other sessions and open live views end with the change anyway."),
    )

    def __init__(self, user, *args, address: str, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.address = address

    def clean_old_password(self):
        try:
            signin_check(email=self.user.email, address=self.address)
        except SignInLocked as exc:
            raise forms.ValidationError(exc.message, code="locked") from exc
        try:
            old_password = super().clean_old_password()
        except forms.ValidationError:
            signin_failed(email=self.user.email, address=self.address)
            raise
        signin_succeeded(email=self.user.email, address=self.address)
        return old_password


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"), help_text=_("What the token is for, e.g. 'CRM sync'."))


class PeriodForm(forms.Form):
    """A report's days, both included, midnight to midnight in the current time zone (tenants.dates)."""

    since = forms.DateField(required=False, label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    @staticmethod
    def month_so_far(query) -> dict:
        """The query's fields, with this month so far (in the current time zone) when it names no day:
        a report's data when nothing was chosen yet."""
        data = query.dict()
        if not any(name in query for name in ("since", "until")):
            today = timezone.localdate()
            data.update(since=today.replace(day=1).isoformat(), until=today.isoformat())
        return data

    def query(self, **more) -> str:
        """The query string of the form's days and `more` (empty values left out), for links and
        downloads."""
        days = {name: self.cleaned_data[name].isoformat() for name in ("since", "until") if self.cleaned_data.get(name)}
        return urlencode({k: v for k, v in {**days, **more}.items() if v not in (None, "")})

    def clean(self):
        data = super().clean()
        for name in ("since", "until"):  # midnights the platform can hold (tenants.dates)
            if data.get(name) and not FIRST_DAY <= data[name] <= LAST_DAY:
                self.add_error(name, DAY_OUT_OF_RANGE)
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            self.add_error("until", _("The last day must not come before the first."))
        return data

    def period(self) -> dict:
        """since and until for the reports: the first day's midnight, the midnight after the last day."""
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return {"since": day_start(since) if since else None,
                "until": day_start(until + dt.timedelta(days=1)) if until else None}  # fmt: skip
