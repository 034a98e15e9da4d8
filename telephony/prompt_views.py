"""Client portal pages for the client's prompts: every prompt of the platform with what it says in the
client's language, a player for the platform's recording and for the client's own, and the upload,
replacement and removal of the client's own (client operators only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from telephony import prompts
from telephony.forms import PromptUploadForm
from tenants.models import Role
from tenants.views.common import confirm_then, form_valid, own_client, role_required, service_call
from tenants.views.files import ranged_file


@role_required(Role.CLIENT)
def prompt_list(request: HttpRequest) -> HttpResponse:
    rows = prompts.prompt_list(client=own_client(request), actor=request.user)
    context = {"title": "Prompts", "rows": rows, "own_count": sum(1 for row in rows if row.own is not None)}
    return render(request, "telephony/prompt_list.html", context)


@role_required(Role.CLIENT)
def prompt_audio(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """The platform's recording (in the client's language) or the client's own (in its scope), with
    ranges for the page's players."""
    client = own_client(request)
    if version == "own":
        path = prompts.own_prompt_file(client, request.user, name)
    elif version == "platform":
        path = prompts.platform_prompt_file(client, name)
    else:
        raise Http404("No such version.")
    response = ranged_file(request, path, "audio/wav")
    response["Cache-Control"] = "private, no-cache"
    return response


@role_required(Role.CLIENT)
def prompt_upload(request: HttpRequest) -> HttpResponse:
    form = PromptUploadForm(request.POST or None, request.FILES or None, initial={"name": request.GET.get("name")})
    client = own_client(request)

    def check(data: dict) -> None:  # every field's refusal at once (form_valid); the rows are undone
        prompts.prompt_upload(actor=request.user, client=client, name=data.get("name", ""), upload=data.get("audio"))

    if request.method == "POST" and form_valid(form, check):
        data = form.cleaned_data
        with service_call(request, form) as call:
            prompt = prompts.prompt_upload(actor=request.user, client=client, name=data["name"], upload=data["audio"])
        if call.ok:
            messages.success(request, f"Prompt {prompt.name} uploaded ({prompt.seconds:.1f} s): callers hear it from "
                             "their next call.")  # fmt: skip
            return redirect("prompt_list")
    context = {"title": "Upload a prompt", "form": form, "submit": "Upload", "cancel_url": reverse("prompt_list")}
    return render(request, "portal/form_page.html", context)


@role_required(Role.CLIENT)
def prompt_remove(request: HttpRequest, name: str) -> HttpResponse:
    client = own_client(request)
    prompts.own_prompt_file(client, request.user, name)  # 404 when the client has no recording of it
    return confirm_then(
        request,
        lambda: prompts.prompt_remove(actor=request.user, client=client, name=name),
        title=f"Remove your prompt {name}",
        question=f"Remove your recording of {name}? Callers hear the platform's prompt again.",
        submit="Remove",
        done=f"Prompt {name}: callers hear the platform's again.",
        done_url=reverse("prompt_list"),
        back_url=reverse("prompt_list"),
    )
