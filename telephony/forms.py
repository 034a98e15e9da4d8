"""Portal forms for a client's employees and their lines. The services validate and write."""

from __future__ import annotations

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from billing.csvio import upload_within
from telephony.media.prompts import TEXTS
from telephony.users_csv import MAX_BYTES as USERS_MAX_BYTES
from tenants.forms import NEW_PASSWORD_ATTRS, AccountForm

PASSWORD_HELP = _("The employee's portal password, at least 10 characters.")


class UserCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label=_("Name"))
    email = forms.EmailField(label=_("E-mail"))
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs=NEW_PASSWORD_ATTRS), help_text=PASSWORD_HELP
    )
    number = forms.CharField(max_length=4, label=_("Extension"), help_text=_("2 to 4 digits."))
    display_name = forms.CharField(
        max_length=100,
        required=False,
        label=_("Caller name"),
        help_text=_("Shown on the phones called; empty uses the name."),
    )
    sip_username = forms.CharField(
        max_length=64, required=False, label=_("SIP user name"), help_text=_("Empty uses the extension number.")
    )


class UserForm(AccountForm):
    """An employee's line and account, as the client's operators edit them."""

    number = forms.CharField(max_length=4, label=_("Extension"), help_text=_("2 to 4 digits."))
    display_name = forms.CharField(max_length=100, label=_("Caller name"))
    may_intercept = forms.BooleanField(required=False, label=_("May pick up colleagues' ringing calls"))
    may_barge = forms.BooleanField(required=False, label=_("May barge in, monitor and whisper"))
    supervision_exempt = forms.BooleanField(required=False, label=_("Exempt from supervision (nobody listens in)"))
    field_order = ["number", "display_name", "may_intercept", "may_barge", "supervision_exempt", "name", "email",
                   "is_active", "password"]  # fmt: skip


class SecretResetForm(forms.Form):
    sip_username = forms.CharField(
        max_length=64,
        required=False,
        label=_("New SIP user name"),
        help_text=_("Optional; empty keeps the current one."),
    )


class SipRuleForm(forms.Form):
    """An address rule at the SIP edge; god may leave the client empty (a rule for every client)."""

    client = forms.ModelChoiceField(
        queryset=None, required=False, label=_("Client"), empty_label=_("Every client (platform-wide)")
    )
    network = forms.CharField(
        max_length=43, label=_("Network"), help_text=_("An address or network, such as 203.0.113.0/24.")
    )
    action = forms.ChoiceField(label=_("Action"), choices=(("deny", _("Deny")), ("allow", _("Allow only"))))
    note = forms.CharField(max_length=200, required=False, label=_("Note"))

    def __init__(self, *args, actor, **kwargs):
        from tenants.models import Client, Role

        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = Client.objects.restrict(actor).exclude(status=Client.Status.DELETED)
        if actor.role != Role.GOD:
            self.fields["client"].required = True
            self.fields["client"].empty_label = None


class ScheduleForm(forms.Form):
    """Office hours as lines, holidays as dates (telephony/schedules.py); the service checks them all,
    the name too, so every error shows at once."""

    name = forms.CharField(max_length=60, required=False, label=_("Name"))
    hours = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}), label=_("Hours"),
                            help_text=_("One line per days: mon-fri 09:00-12:30, 13:30-17:00. Days without a line "
                                        "are closed."))  # fmt: skip
    holidays = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label=_("Holidays"),
                               help_text=_("Closed all day, one date a line: 2026-12-25 Christmas"))  # fmt: skip


class ServiceCheckedText(forms.CharField):
    """Text passed to the service as typed: the service names every bad value (NUL characters too)
    per field, so all of a form's errors show at once."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


FORWARDING_LABELS = {
    "always": _("Always forward to"),
    "busy": _("When busy, forward to"),
    "no_answer": _("When not answered, forward to"),
    "unreachable": _("When unreachable, forward to"),
}


class ForwardingForm(forms.Form):
    """A line's call handling (telephony.models.Forwarding): the fields only parse; forwarding_save
    checks them all (a destination that does not exist, a line forwarding to itself, a bad number, the
    seconds), so every error shows at once on its field."""

    dnd = forms.BooleanField(required=False, label=_("Do not disturb"),
                             help_text=_("Calls go where busy forwarding says, or get busy."))  # fmt: skip
    always_kind = ServiceCheckedText(required=False, label=FORWARDING_LABELS["always"])
    always_target = ServiceCheckedText(required=False, label=_("Which (always)"),
                                       help_text=_("An extension, a number, a conference id..."))  # fmt: skip
    busy_kind = ServiceCheckedText(required=False, label=FORWARDING_LABELS["busy"])
    busy_target = ServiceCheckedText(required=False, label=_("Which (busy)"))
    no_answer_kind = ServiceCheckedText(required=False, label=FORWARDING_LABELS["no_answer"])
    no_answer_target = ServiceCheckedText(required=False, label=_("Which (not answered)"))
    no_answer_after = forms.IntegerField(required=False, label=_("Not answered after (seconds)"),
                                         help_text=_("Seconds of ringing, 5 to 120."))  # fmt: skip
    unreachable_kind = ServiceCheckedText(required=False, label=FORWARDING_LABELS["unreachable"])
    unreachable_target = ServiceCheckedText(required=False, label=_("Which (unreachable)"),
                                            help_text=_("When no phone of the line is registered."))  # fmt: skip
    find_me = ServiceCheckedText(
        required=False,
        label=_("Find-me number"),
        help_text=_("An external number (a mobile) that rings with the desk phone."),
    )
    find_me_confirm = forms.BooleanField(required=False, label=_("The find-me number presses 1 to take the call"),
                                         help_text=_("So that a mobile's voicemail cannot take it."))  # fmt: skip

    def __init__(self, *args, **kwargs):
        from telephony import destinations

        super().__init__(*args, **kwargs)
        choices = [("", _("Not forwarded"))] + [(k.name, k.label) for k in destinations.kinds()]
        for when in FORWARDING_LABELS:
            name, known = f"{when}_kind", choices
            sent = self.data.get(self.add_prefix(name), "") if self.is_bound else ""
            if sent and sent not in {value for value, _ in choices} and "\x00" not in sent:
                known = [*choices, (sent, sent)]  # kept as sent, next to its error
            self.fields[name].widget = forms.Select(choices=known)


class BlockForm(forms.Form):
    """An entry of a blocking list; the service reads the number or prefix in the company's country and
    names every field at fault."""

    direction = forms.ChoiceField(
        label=_("List"),
        choices=(
            ("inbound", _("Blocked callers: calls from it are refused")),
            ("outbound", _("Blocked destinations: users may not call it")),
        ),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=(
            ("number", _("A number")),
            ("prefix", _("Numbers starting with")),
            ("anonymous", _("Anonymous callers (no number shown)")),
        ),
    )
    value = forms.CharField(required=False, label=_("Number or prefix"),
                            help_text=_("As your people write it (030 1234567, 0900) or with + (+4490). Empty for "
                                        "anonymous callers."))  # fmt: skip
    note = forms.CharField(required=False, max_length=200, label=_("Note"))


class CallerBlockingForm(forms.Form):
    action = forms.ChoiceField(label=_("Blocked callers' calls"),
                               choices=(("decline", _("Declined (603 Decline)")),
                                        ("forbidden", _("Refused (403 Forbidden)")),
                                        ("message", _("Answered with a message, then hung up"))))  # fmt: skip


class UsersImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=format_lazy(
            _(
                "Columns: extension, name, email and optionally caller_name, sip_username, may_intercept and "
                "may_barge (true or false). Everyone is created when every row is good; at most {megabytes} MB."
            ),
            megabytes=USERS_MAX_BYTES // 1024 // 1024,
        ),
    )

    def clean_file(self):
        return upload_within(self.cleaned_data["file"], USERS_MAX_BYTES)


class PromptUploadForm(forms.Form):
    """A client's own recording of one of the platform's prompts."""

    name = forms.ChoiceField(label="Prompt", choices=[(name, f"{name}: {text}") for name, text in TEXTS.items()])
    audio = forms.FileField(label="Audio file", help_text="WAV, MP3, Ogg, FLAC or another audio format, at most 2 "
                            "minutes; it is kept as 8 kHz mono, what the phones play.")  # fmt: skip


class WidgetForm(forms.Form):
    """A click-to-call widget (telephony/widgets.py); the service checks every field at once."""

    name = forms.CharField(max_length=60, required=False, label=_("Name"))
    destination_target = forms.CharField(max_length=100, required=False, label=_("Rings first: the user's extension"))
    origins = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}), label=_("Allowed web sites"),
                              help_text=_("Exact origins, one a line: https://shop.example.com"))  # fmt: skip
    enabled = forms.BooleanField(required=False, initial=True, label=_("On"))
