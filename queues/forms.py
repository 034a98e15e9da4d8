"""Portal forms for queues: the queue's fields, its members as rows (a formset: a blank row is no
member), and an agent's pause reason. They only parse input; queues/services.py validates and writes,
naming every bad field."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from menus.forms import kind_choices
from queues.models import Queue, Strategy
from queues.services import FIELDS

NUMBERS = (
    "ring_seconds",
    "wrapup_seconds",
    "max_wait_seconds",
    "max_callers",
    "announce_every",
    "pause_after_missed",
    "sticky_minutes",
    "service_level_seconds",
    "callback_retries",
    "callback_retry_seconds",
)


class QueueForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60, required=False)
    number = forms.CharField(
        label=_("Number"),
        max_length=4,
        required=False,
        help_text=_("Optional: colleagues dial it like an extension (2 to 4 digits)."),
    )
    strategy = forms.ChoiceField(label=_("Strategy"), choices=Strategy.choices, required=False)
    ring_seconds = forms.IntegerField(label=_("Seconds an agent's phones ring"), required=False)
    wrapup_seconds = forms.IntegerField(label=_("Wrap-up seconds after a call"), required=False)
    max_wait_seconds = forms.IntegerField(label=_("Maximum wait in seconds (0: no limit)"), required=False)
    max_wait_kind = forms.ChoiceField(label=_("After the maximum wait: kind"), required=False)
    max_wait_target = forms.CharField(label=_("After the maximum wait: target"), max_length=100, required=False)
    max_callers = forms.IntegerField(label=_("Maximum waiting callers (0: no limit)"), required=False)
    full_kind = forms.ChoiceField(label=_("When the queue is full: kind"), required=False)
    full_target = forms.CharField(label=_("When the queue is full: target"), max_length=100, required=False)
    announce_every = forms.IntegerField(label=_("Announce the position every N seconds (0: never)"), required=False)
    pause_after_missed = forms.IntegerField(label=_("Pause an agent after N missed offers (0: never)"), required=False)
    sticky_minutes = forms.IntegerField(label=_("Sticky agent minutes (0: off)"), required=False)
    service_level_seconds = forms.IntegerField(
        label=_("Service level: answered within N seconds"),
        required=False,
        help_text=_("The statistics and the wallboard count calls answered within this wait as served in time."),
    )
    missed_call_emails = forms.CharField(
        label=_("E-mail missed calls to"),
        max_length=500,
        required=False,
        help_text=_("Addresses, comma-separated, told of each caller who hangs up or times out while waiting."),
    )
    callback_key = forms.ChoiceField(
        label=_("Callback key"),
        choices=[("", _("No callback"))] + [(str(d), str(d)) for d in range(10)],
        required=False,
        help_text=_("A waiting caller presses it to hang up and be called back in their turn."),
    )
    callback_retries = forms.IntegerField(label=_("Callback retries when the caller does not answer"), required=False)
    callback_retry_seconds = forms.IntegerField(label=_("Seconds between callback tries"), required=False)
    supervision_tone = forms.BooleanField(
        label=_("A tone tells the agent that a supervisor listens in"), required=False
    )
    supervisors = forms.CharField(
        label=_("Supervisors"),
        max_length=1000,
        required=False,
        help_text=_("Extensions of the users who see and supervise this queue's agents' calls, separated by commas."),
    )
    rating = forms.BooleanField(
        label=_("Ask the caller to rate the call (1 to 5) after the agent hangs up"), required=False
    )

    def __init__(self, *args, queue: Queue | None = None, **kwargs):
        defaults = Queue()
        source = queue or defaults
        kwargs.setdefault("initial", {name: getattr(source, name) for name in FIELDS})
        if queue is not None:
            kwargs["initial"]["supervisors"] = ", ".join(queue.supervisors.values_list("extension__number", flat=True))
        super().__init__(*args, **kwargs)
        for when in ("max_wait", "full"):
            self.fields[f"{when}_kind"].choices = kind_choices(_("Goodbye (hang up)"))

    def values(self) -> dict:
        """The cleaned values for the service (empty numbers: the defaults)."""
        data, defaults = dict(self.cleaned_data), Queue()
        for name in NUMBERS:
            if data.get(name) is None:
                data[name] = getattr(defaults, name)
        data["strategy"] = data.get("strategy") or defaults.strategy
        data["supervisors"] = [n.strip() for n in (data.get("supervisors") or "").split(",") if n.strip()]
        return data


class MemberForm(forms.Form):
    extension = forms.ChoiceField(label=_("Agent"), required=False)
    penalty = forms.IntegerField(label=_("Penalty"), required=False, help_text=_("0 to 99: lower tiers first."))
    order = forms.IntegerField(label=_("Order"), required=False)

    def __init__(self, *args, extensions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["extension"].choices = [("", "-")] + [
            (e.number, f"{e.number} {e.display_name}") for e in extensions
        ]
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = field.label

    def filled(self) -> bool:
        return bool(getattr(self, "cleaned_data", {}).get("extension"))


MemberRows = forms.formset_factory(MemberForm, extra=3, max_num=200, absolute_max=200)


class PauseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=60, required=False)
