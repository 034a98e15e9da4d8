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
    may_intercept = forms.BooleanField(required=False, label="May pick up colleagues' ringing calls")
    may_barge = forms.BooleanField(required=False, label="May barge in, monitor and whisper")
    field_order = ["number", "display_name", "may_intercept", "may_barge", "name", "email", "is_active", "password"]


class SecretResetForm(forms.Form):
    sip_username = forms.CharField(
        max_length=64, required=False, label="New SIP user name", help_text="Optional; empty keeps the current one."
    )


class SipRuleForm(forms.Form):
    """An address rule at the SIP edge; god may leave the client empty (a rule for every client)."""

    client = forms.ModelChoiceField(queryset=None, required=False, empty_label="Every client (platform-wide)")
    network = forms.CharField(max_length=43, help_text="An address or network, such as 203.0.113.0/24.")
    action = forms.ChoiceField(choices=(("deny", "Deny"), ("allow", "Allow only")))
    note = forms.CharField(max_length=200, required=False)

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

    name = forms.CharField(max_length=60, required=False)
    hours = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}),
                            help_text="One line per days: mon-fri 09:00-12:30, 13:30-17:00. Days without a line "
                            "are closed.")  # fmt: skip
    holidays = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                               help_text="Closed all day, one date a line: 2026-12-25 Christmas")  # fmt: skip


class BlockForm(forms.Form):
    """An entry of a blocking list; the service reads the number or prefix in the company's country and
    names every field at fault."""

    direction = forms.ChoiceField(
        label="List",
        choices=(
            ("inbound", "Blocked callers: calls from it are refused"),
            ("outbound", "Blocked destinations: users may not call it"),
        ),
    )
    kind = forms.ChoiceField(choices=(("number", "A number"), ("prefix", "Numbers starting with"),
                                      ("anonymous", "Anonymous callers (no number shown)")))  # fmt: skip
    value = forms.CharField(required=False, label="Number or prefix",
                            help_text="As your people write it (030 1234567, 0900) or with + (+4490). Empty for "
                            "anonymous callers.")  # fmt: skip
    note = forms.CharField(required=False, max_length=200)


class CallerBlockingForm(forms.Form):
    action = forms.ChoiceField(label="Blocked callers' calls",
                               choices=(("decline", "Declined (603 Decline)"), ("forbidden", "Refused (403 Forbidden)"),
                                        ("message", "Answered with a message, then hung up")))  # fmt: skip
