"""A client's prompts: every prompt of the platform (telephony/media/prompts.py TEXTS) as the client's
callers hear it, in the client's language, and the client's own recordings that replace any of them
(uploaded in any audio format, stored as 8 kHz mono WAV under OCX_MESSAGES_DIR/<client>/prompt-<name>.wav).

The engines read which own recordings a client has with its dial plan (telephony/engine/dialplan.py)
and the files once per upload; every change tells them to read the plan again (after commit)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django_tenants.utils import tenant_context

from conferencing.notifications import AudioUploadRefused, upload_samples, write_wav
from telephony.directory import sip_directory_prompts_changed
from telephony.media.prompts import TEXTS, VOICES, Prompts, Voice, own_path
from telephony.models import Prompt
from tenants.audit import audit
from tenants.errors import NotAllowed
from tenants.models import Client, Role, User

MAX_PROMPT_SECONDS = 120
NAMES = tuple(TEXTS)


@functools.cache
def platform_prompts() -> Prompts:
    """The platform's prompts as the web processes read them (texts, and files made when first asked)."""
    return Prompts(settings.OCX_PROMPTS_DIR)


def client_language(client: Client) -> str:
    """The language a client's callers hear: its own, else its brand's, else English."""
    return next((code for code in (client.language, client.brand.language) if code in VOICES), "en")


def prompt_path(client: Client, name: str) -> Path:
    return own_path(settings.OCX_MESSAGES_DIR, client.pk, name)


@dataclass
class PromptRow:
    """One prompt as the client's page and the API show it."""

    name: str
    text: str  # what the platform's prompt says, in the client's language
    language: str
    own: Prompt | None  # the client's recording that replaces it


def _require_operator(actor: User, client: Client) -> None:
    if actor.role != Role.CLIENT or actor.client_id != client.pk:
        raise NotAllowed("Only the client's operators manage its prompts.")


def prompt_list(*, client: Client, actor: User) -> list[PromptRow]:
    """Every platform prompt (digits last), with the client's recording where it has one."""
    _require_operator(actor, client)
    language, prompts = client_language(client), platform_prompts()
    with tenant_context(client):
        own = {p.name: p for p in Prompt.objects.restrict(actor)}
    return [PromptRow(name, prompts.text(name, language), language, own.get(name)) for name in NAMES]


def prompt_row(*, client: Client, actor: User, name: str) -> PromptRow:
    """One prompt (404 for a name the platform does not have)."""
    found = next((row for row in prompt_list(client=client, actor=actor) if row.name == name), None)
    if found is None:
        raise Http404("No such prompt.")
    return found


def platform_prompt_file(client: Client, name: str) -> Path:
    """The platform's file of prompt `name` in the client's language (made now if it is not yet)."""
    if name not in TEXTS:
        raise Http404("No such prompt.")
    prompts, language = platform_prompts(), client_language(client)
    prompts.load(Voice(language), (name,))
    return prompts.path(name, language)


def own_prompt_file(client: Client, actor: User, name: str) -> Path:
    """The client's own recording of prompt `name` (404 when it has none, or for another scope)."""
    with tenant_context(client):
        if not Prompt.objects.restrict(actor).filter(name=name).exists():
            raise Http404("No such prompt.")
    return prompt_path(client, name)


@transaction.atomic
def prompt_upload(*, actor: User, client: Client, name: str, upload) -> Prompt:
    """The client's recording of prompt `name` (new, or replacing its earlier one); every bad field at
    once (an unknown name, no file, not audio, too long)."""
    _require_operator(actor, client)
    errors: dict[str, list[str]] = {}
    if name not in TEXTS:
        errors["name"] = ["Choose one of the platform's prompts." if name else "Choose the prompt to replace."]
    samples = None
    if upload is None:
        errors["audio"] = ["Choose the audio file to upload."]
    else:
        try:
            samples = upload_samples(upload, max_seconds=MAX_PROMPT_SECONDS)
        except AudioUploadRefused as exc:
            errors["audio"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    with tenant_context(client):
        prompt, created = Prompt.objects.update_or_create(
            name=name, defaults={"seconds": len(samples) / 8000, "uploaded_by_id": actor.pk}
        )
        write_wav(prompt_path(client, name), samples)
        audit(actor, "prompt.upload" if created else "prompt.replace", prompt, client=client)
    sip_directory_prompts_changed(client)
    return prompt


@transaction.atomic
def prompt_remove(*, actor: User, client: Client, name: str) -> None:
    """Remove the client's recording of prompt `name`: its callers hear the platform's again."""
    _require_operator(actor, client)
    with tenant_context(client):
        prompt = Prompt.objects.restrict(actor).filter(name=name).first()
        if prompt is None:
            raise Http404("No such prompt.")
        audit(actor, "prompt.remove", prompt, client=client)
        prompt.delete()
    path = prompt_path(client, name)
    transaction.on_commit(lambda: path.unlink(missing_ok=True))
    sip_directory_prompts_changed(client)
