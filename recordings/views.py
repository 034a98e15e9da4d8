"""Client portal pages of call recording: the recordings with a player (operators: all of the client's;
users: their own calls', where the client allows), the client's policy (operators) and a user's own
choice. Files are served through the actor's scope with byte ranges, never from a public URL."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from recordings import services
from recordings.forms import LineChoiceForm, RecordingPolicyForm, UserLineChoiceForm
from recordings.models import Mode, Recording
from recordings.selectors import line_modes, mode_label
from telephony.models import Extension
from tenants.models import Role
from tenants.views.common import form_valid, own_client, paginated, role_required, service_call
from tenants.views.files import ranged_file

MEMBERS = (Role.CLIENT, Role.USER)


@role_required(*MEMBERS)
def recording_list(request: HttpRequest) -> HttpResponse:
    policy = services.policy_of(own_client(request))
    rows = Recording.objects.restrict(request.user)
    context = {"title": _("Recordings") if request.user.role == Role.CLIENT else _("My recordings"), "policy": policy,
               "closed": request.user.role == Role.USER and not policy.users_listen,
               **paginated(request, rows, ["caller", "callee", "conference"])}  # fmt: skip
    return render(request, "recordings/recording_list.html", context)


@role_required(*MEMBERS)
def recording_audio(request: HttpRequest, pk: int) -> HttpResponse:
    """A recording's WAV file for the page's player and for download (in the actor's scope)."""
    recording = Recording.objects.get_for(request.user, pk=pk)
    response = ranged_file(request, services.recording_file(recording), "audio/wav")
    response["Cache-Control"] = "private, no-cache"
    kind = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = f'{kind}; filename="recording-{recording.pk}.wav"'
    return response


@role_required(Role.CLIENT)
def recording_settings(request: HttpRequest) -> HttpResponse:
    client = own_client(request)
    policy = services.policy_of(client)
    initial = {name: getattr(policy, name) for name in services.POLICY_FIELDS}
    form = RecordingPolicyForm(request.POST or None, initial=initial)

    def check(data: dict) -> None:
        services.policy_update(actor=request.user, client=client, **{**initial, **data})

    if request.method == "POST" and form_valid(form, check):
        with service_call(request, form) as call:
            services.policy_update(actor=request.user, client=client, **form.cleaned_data)
        if call.ok:
            messages.success(request, _("Recording settings saved: the next calls follow them."))
            return redirect("recording_settings")
    context = {"title": _("Recording settings"), "form": form, "submit": _("Save"),
               "intro": _("On demand: a party presses *1 during the call to start recording and *1 again to stop. "
                          "A party presses *2 to pause a recording and *2 again to resume it, as the API can "
                          "(silence in the file meanwhile).")}  # fmt: skip
    return render(request, "recordings/recording_form.html", context)


@role_required(Role.USER)
def my_recording(request: HttpRequest) -> HttpResponse:
    client = own_client(request)
    extension = Extension.objects.filter(account_id=request.user.pk).first()
    if extension is None:
        raise Http404(_("You have no phone line."))
    policy = services.policy_of(client)
    form = LineChoiceForm(request.POST or None, initial={"mode": services.line_choice_of(client, extension)})
    if not policy.users_choose:
        form.fields["mode"].disabled = True
        form.fields["mode"].help_text = _("Your company records calls as it chose: users do not choose.")
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.line_choice_update(actor=request.user, client=client, extension=extension,
                                        mode=form.cleaned_data["mode"])  # fmt: skip
        if call.ok:
            messages.success(request, _("Saved: your next calls follow it."))
            return redirect("my_recording")
    company = {Mode.NEVER: _("Your company: never."), Mode.ALWAYS: _("Your company: always."),
               Mode.ON_DEMAND: _("Your company: on demand (*1 during the call, or the API).")}  # fmt: skip
    on_demand = _("On demand: press *1 during a call to start, *1 to stop.")
    pause = _("While a call is recorded, *2 pauses the recording and *2 again resumes it.")
    context = {"title": _("Recording of my calls"), "form": form, "submit": _("Save"),
               "intro": f"{company.get(policy.mode, company[Mode.NEVER])} {on_demand} {pause}"}  # fmt: skip
    return render(request, "recordings/recording_form.html", context)


@role_required(Role.CLIENT)
def user_recording(request: HttpRequest, pk: int) -> HttpResponse:
    """An operator sets a user's own choice for their line's calls (used while the client lets users
    choose); the page says what the line gets now."""
    client = own_client(request)
    extension = Extension.objects.get_for(request.user, pk=pk)
    line = line_modes(client, [extension.pk])[extension.pk]
    form = UserLineChoiceForm(request.POST or None, initial={"mode": line.choice})
    if not line.users_choose:
        form.fields["mode"].disabled = True
        form.fields["mode"].help_text = _("Users' own choices apply only while the recording settings let users "
                                          "choose.")  # fmt: skip
    if request.method == "POST" and form.is_valid():
        with service_call(request, form) as call:
            services.line_choice_update(actor=request.user, client=client, extension=extension,
                                        mode=form.cleaned_data["mode"])  # fmt: skip
        if call.ok:
            messages.success(request, _("Saved: the user's next calls follow it."))
            return redirect("user_detail", pk=extension.pk)
    now = _("Recording of their calls now: %(mode)s.") % {"mode": mode_label(line.effective)}
    context = {"title": _("Recording of %(number)s %(name)s") % {"number": extension.number,
                                                                 "name": extension.display_name},
               "form": form, "submit": _("Save"), "intro": now,
               "cancel_url": reverse("user_detail", args=[extension.pk])}  # fmt: skip
    return render(request, "recordings/recording_form.html", context)
