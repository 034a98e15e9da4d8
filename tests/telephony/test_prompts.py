"""A client's prompts: what its callers hear in its language (a user's own language for their feature
codes), through edge and engine with real pjsua2 phones; its own recordings replacing any prompt,
kept in the client portal and the API (every bad field at once, other scopes get 404)."""

from __future__ import annotations

import io
import shutil
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tenants.utils import tenant_context

from telephony.media.prompts import Prompts, Voice
from telephony.models import Prompt
from tests.pages import field_error
from tests.sip.audio import heard_ms, longest_heard_ms, read_wav
from tests.telephony.conftest import SECRET
from tests.waiting import committed

BAD_CODE = "*72999"  # call forwarding to no such line: "That is not possible. Goodbye.", then the engine hangs up


def tone_wav(seconds: float = 1.0, freq: int = 1000, rate: int = 16000) -> bytes:
    """A WAV file of a tone (at 16 kHz: the upload is converted to the phones' 8 kHz)."""
    samples = (np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate) * 9000).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


def upload(name: str = "tone.wav", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, tone_wav() if data is None else data, content_type="audio/wav")


# What a phone heard, compared with the prompts' own files ----------------------------------------------


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    """Loudness per 20 ms (RMS), the shape of what was said whatever the codec did to the waveform."""
    window = rate // 50
    count = len(samples) // window
    frames = np.asarray(samples[: count * window], dtype=np.float64).reshape(count, window)
    return np.sqrt((frames**2).mean(axis=1))


def likeness(heard: np.ndarray, expected: np.ndarray) -> float:
    """The best correlation of the heard envelope with the expected one, over the shifts that overlap
    at least 70% of the shorter (the recording starts a moment after the prompt did)."""
    best, need = -1.0, int(0.7 * min(len(heard), len(expected)))
    for shift in range(-len(heard) + need, len(expected) - need + 1):
        a = heard[max(0, -shift) : max(0, -shift) + len(expected) - max(0, shift)]
        b = expected[max(0, shift) : max(0, shift) + len(a)]
        a = a[: len(b)]
        if len(a) >= need and a.std() > 0 and b.std() > 0:
            best = max(best, float(np.corrcoef(a, b)[0, 1]))
    return best


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    """The prompts as espeak-ng makes them, in a folder of the test's own (the engine makes its own)."""
    prompts = Prompts(tmp_path_factory.mktemp("prompts"))
    prompts.prepare(("en", "de", "fr"))
    return prompts


def heard_after_dialling(caller, domain, path: Path, dialled: str = BAD_CODE) -> tuple[int, np.ndarray]:
    """Dial, record what the engine says until it hangs up: (rate, samples)."""
    caller.call("p1", f"sip:{dialled}@{domain}")
    caller.wait_call_state("p1", "confirmed")
    caller.record("p1", path)
    caller.wait_call_state("p1", "disconnected", timeout=15)
    caller.wait_recorded("p1")
    rate, samples = read_wav(path)
    return rate, np.asarray(samples, dtype=np.int16)


def language_heard(spoken, rate: int, samples: np.ndarray, *names: str) -> dict[str, float]:
    heard = envelope(samples, rate)
    return {
        lang: likeness(heard, envelope(spoken.samples(*names, voice=Voice(lang)), 8000)) for lang in ("en", "de", "fr")
    }


def assert_spoken_in(language: str, scores: dict[str, float]) -> None:
    """What was heard is like the prompts in `language`, clearly more than like the others (about 0.95
    against 0.4-0.55 on a quiet machine; a loaded one loses some packets)."""
    others = max(score for lang, score in scores.items() if lang != language)
    assert scores[language] > 0.65 and scores[language] > others + 0.15, scores


def speak(world, language: str) -> None:
    """The client's language, committed (the engines drop its dial plan, as for any change of the client)."""
    from tenants.services import client_update

    committed(lambda: client_update(actor=world.client_a1_op, client=world.client_a1, language=language))


@pytest.fixture
def german_client(world):
    from tenants.services import account_update

    speak(world, "de")
    yield
    speak(world, "")
    user = world.user_a1
    committed(lambda: account_update(actor=user, account=user, language=""))


def test_a_caller_hears_the_prompts_in_the_clients_language_from_the_next_call(world, lines, spoken, tmp_path):
    caller, _callee, domain = lines
    rate, samples = heard_after_dialling(caller, domain, tmp_path / "english.wav")  # the engine keeps this plan
    scores = language_heard(spoken, rate, samples, "not_possible", "goodbye")
    assert_spoken_in("en", scores)
    speak(world, "de")
    try:
        rate, samples = heard_after_dialling(caller, domain, tmp_path / "german.wav")
    finally:
        speak(world, "")
    scores = language_heard(spoken, rate, samples, "not_possible", "goodbye")
    assert_spoken_in("de", scores)


def test_a_users_own_language_speaks_their_feature_codes(world, lines, sip_lines, spoken, german_client, tmp_path):
    from tenants.services import account_update

    caller, _callee, domain = lines
    user = world.user_a1
    committed(lambda: account_update(actor=user, account=user, language="fr"))  # the engines drop the plan
    sip_lines(user, SECRET)  # (the update wrote the line's committed secret back to the directory: the test's again)
    rate, samples = heard_after_dialling(caller, domain, tmp_path / "heard.wav")
    scores = language_heard(spoken, rate, samples, "not_possible", "goodbye")
    assert_spoken_in("fr", scores)


def test_a_clients_own_prompt_is_heard_from_the_next_call_and_the_platforms_after_removal(
    world, lines, spoken, german_client, tmp_path
):
    from telephony.prompts import prompt_remove, prompt_upload

    caller, _callee, domain = lines
    op, client = world.client_a1_op, world.client_a1
    committed(lambda: prompt_upload(actor=op, client=client, name="not_possible", upload=upload()))
    try:
        rate, samples = heard_after_dialling(caller, domain, tmp_path / "own.wav")
        assert heard_ms(tmp_path / "own.wav", 1000) >= 700  # the second of tone, then the German goodbye
        tail = samples[len(samples) // 2 :]
        assert language_heard(spoken, rate, tail, "goodbye")["de"] > 0.7
    finally:
        committed(lambda: prompt_remove(actor=op, client=client, name="not_possible"))
    rate, samples = heard_after_dialling(caller, domain, tmp_path / "platform.wav")
    assert longest_heard_ms(tmp_path / "platform.wav", 1000) < 300, "the second of tone is gone"
    assert_spoken_in("de", language_heard(spoken, rate, samples, "not_possible", "goodbye"))


# The client portal and the API ----------------------------------------------------------------------------


@pytest.fixture
def prompts_dir(settings, tmp_path):
    settings.OCX_MESSAGES_DIR = str(tmp_path / "messages")
    return tmp_path / "messages"


def test_operators_list_every_prompt_in_their_language_and_replace_one(
    world, api, prompts_dir, django_capture_on_commit_callbacks
):
    from telephony.media.prompts import TEXTS

    client = world.client_a1
    op = api(world.client_a1_op)
    listed = op.get("/api/v1/prompts/").json()
    assert [row["name"] for row in listed] == list(TEXTS) and all(row["own"] is None for row in listed)
    assert listed[0]["language"] == "en" and listed[0]["text"] == TEXTS[listed[0]["name"]]
    with django_capture_on_commit_callbacks(execute=True):
        put = op.put("/api/v1/prompts/goodbye/", {"audio": upload()}, format="multipart")
    assert put.status_code == 200, put.content
    assert put.json()["own"]["seconds"] == pytest.approx(1.0, abs=0.05)
    with tenant_context(client):
        assert Prompt.objects.filter(name="goodbye").exists()
    own = op.get("/api/v1/prompts/goodbye/audio/?version=own", HTTP_RANGE="bytes=0-99")
    assert own.status_code == 206 and own["Content-Range"].endswith(f"/{16044}")  # 8 kHz mono, one second
    with wave.open(str(prompts_dir / str(client.pk) / "prompt-goodbye.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getnframes()) == (8000, 1, 8000)
    platform = op.get("/api/v1/prompts/goodbye/audio/?version=platform")
    assert platform.status_code == 200 and b"".join(platform.streaming_content)[:4] == b"RIFF"
    with django_capture_on_commit_callbacks(execute=True):
        assert op.delete("/api/v1/prompts/goodbye/").status_code == 204
    assert not (prompts_dir / str(client.pk) / "prompt-goodbye.wav").exists()
    assert op.get("/api/v1/prompts/goodbye/").json()["own"] is None
    assert op.get("/api/v1/prompts/goodbye/audio/?version=own").status_code == 404
    assert op.delete("/api/v1/prompts/goodbye/").status_code == 404


def test_the_list_speaks_the_clients_language(world, api, portal, prompts_dir):
    from tenants.services import client_update

    client_update(actor=world.client_a1_op, client=world.client_a1, language="de")
    row = api(world.client_a1_op).get("/api/v1/prompts/dnd_on/").json()
    assert (row["language"], row["text"]) == ("de", "Bitte nicht stören ist eingeschaltet.")
    page = portal(world.client_a1_op).get("/prompts/")
    assert page.status_code == 200
    assert "Bitte nicht stören ist eingeschaltet." in page.content.decode()
    assert 'src="/prompts/dnd_on/platform.wav"' in page.content.decode()


def test_every_bad_field_is_refused_at_once(world, api, portal, prompts_dir, settings):
    op = api(world.client_a1_op)
    refused = op.put("/api/v1/prompts/no_such_prompt/", {"audio": upload("notes.txt", b"not audio at all")},
                     format="multipart")  # fmt: skip
    assert refused.status_code == 400, refused.content
    fields = refused.json()["fields"]
    assert set(fields) == {"name", "audio"} and "Not a usable audio file" in fields["audio"][0]
    too_long = op.put("/api/v1/prompts/goodbye/", {"audio": upload("long.wav", tone_wav(seconds=121, rate=8000))},
                      format="multipart")  # fmt: skip
    assert too_long.status_code == 400 and "longer than 120 s" in too_long.json()["fields"]["audio"][0]
    assert op.put("/api/v1/prompts/goodbye/", {}, format="multipart").json()["fields"]["audio"]
    # the portal's form says the same, both fields together
    page = portal(world.client_a1_op).post("/prompts/upload/", {"name": "goodbye", "audio": upload("x.txt", b"no")})
    assert page.status_code == 200 and "Not a usable audio file" in page.content.decode()
    page = portal(world.client_a1_op).post("/prompts/upload/", {"name": "no_such", "audio": upload("x.txt", b"no")})
    assert "valid choice" in field_error(page, "name") and "Not a usable audio file" in field_error(page, "audio")
    with tenant_context(world.client_a1):
        assert not Prompt.objects.exists()
    assert not (prompts_dir / str(world.client_a1.pk)).exists()


def test_an_upload_that_names_other_files_reads_none_of_them(world, api, prompts_dir):
    """FFmpeg reads playlists too: an "audio" file that is an ffconcat list names files beside the
    upload's temporary copy (another upload, a recording). Only audio formats are opened."""
    elsewhere = Path(tempfile.mkdtemp(prefix="ocx-test-elsewhere-"))
    try:
        (elsewhere / "secret.wav").write_bytes(tone_wav(seconds=2))
        playlist = f"ffconcat version 1.0\nfile {elsewhere.name}/secret.wav\n".encode()
        refused = api(world.client_a1_op).put("/api/v1/prompts/goodbye/", {"audio": upload("list.wav", playlist)},
                                              format="multipart")  # fmt: skip
        assert refused.status_code == 400, refused.content
        assert "Not a usable audio file" in refused.json()["fields"]["audio"][0]
        with tenant_context(world.client_a1):
            assert not Prompt.objects.exists()
    finally:
        shutil.rmtree(elsewhere)


def test_another_scope_gets_404(world, api, portal, prompts_dir, django_capture_on_commit_callbacks):
    from telephony.prompts import prompt_upload

    with django_capture_on_commit_callbacks(execute=True):
        prompt_upload(actor=world.client_a1_op, client=world.client_a1, name="goodbye", upload=upload())
    a1_host = world.host_of(world.client_a1_op)
    for account in (world.client_a2_op, world.user_a1, world.client_b1_op):
        http = api(account)
        assert http.get("/api/v1/prompts/goodbye/audio/?version=own").status_code == 404
        mine = http.get("/api/v1/prompts/goodbye/")  # another client's operators: their own prompt, a user: nothing
        assert mine.json()["own"] is None if account.role == "client" else mine.status_code == 404
        assert http.delete("/api/v1/prompts/goodbye/").status_code == 404
        # on the A1 host itself, with their own sign-in: still nothing of A1's
        assert api(account, host=a1_host).get("/api/v1/prompts/goodbye/audio/?version=own").status_code in (
            401,
            403,
            404,
        )
    assert portal(world.client_a2_op).get("/prompts/goodbye/own.wav").status_code == 404  # A2 has no goodbye
    assert portal(world.user_a1).get("/prompts/goodbye/own.wav").status_code in (403, 404)
    assert portal(world.client_a1_op).get("/prompts/goodbye/own.wav").status_code == 200
    assert portal(world.client_a1_op).get("/prompts/nothing/platform.wav").status_code == 404
    with tenant_context(world.client_a1):
        assert Prompt.objects.filter(name="goodbye").exists()


def test_a_change_tells_the_engines_to_read_the_clients_plan_again(
    world, prompts_dir, django_capture_on_commit_callbacks
):
    from config.redis_store import get_redis, rkey
    from telephony.directory import INVALIDATE_CHANNEL
    from telephony.prompts import prompt_remove, prompt_upload
    from tenants.services import brand_update

    pubsub = get_redis().pubsub()
    pubsub.subscribe(rkey(INVALIDATE_CHANNEL))
    pubsub.get_message(timeout=1)
    with django_capture_on_commit_callbacks(execute=True):
        prompt_upload(actor=world.client_a1_op, client=world.client_a1, name="pin", upload=upload())
    with django_capture_on_commit_callbacks(execute=True):
        prompt_remove(actor=world.client_a1_op, client=world.client_a1, name="pin")
    with django_capture_on_commit_callbacks(execute=True):  # the clients without a language speak the brand's
        brand_update(actor=world.god, brand=world.brand_a, language="fr")
    heard = [m["data"] for _ in range(5) if (m := pubsub.get_message(timeout=1)) and m["type"] == "message"]
    assert heard == [f"prompts {world.client_a1.pk}".encode()] * 2 + [b"prompts"]
    pubsub.close()


def test_the_portal_uploads_plays_and_removes_a_prompt(world, portal, prompts_dir, django_capture_on_commit_callbacks):
    http = portal(world.client_a1_op)
    form = http.get("/prompts/upload/?name=thanks")
    assert form.status_code == 200 and '<option value="thanks" selected>' in form.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = http.post("/prompts/upload/", {"name": "thanks", "audio": upload()})
    assert done.status_code == 302 and done["Location"] == "/prompts/"
    page = http.get("/prompts/").content.decode()
    assert 'src="/prompts/thanks/own.wav?v=' in page and "/prompts/thanks/remove/" in page
    played = http.get("/prompts/thanks/own.wav", HTTP_RANGE="bytes=44-")
    assert played.status_code == 206 and len(played.content) == 16000
    with django_capture_on_commit_callbacks(execute=True):
        assert http.post("/prompts/thanks/remove/").status_code == 302
    assert http.get("/prompts/thanks/own.wav").status_code == 404
    assert "/prompts/thanks/remove/" not in http.get("/prompts/").content.decode()


def test_a_campaigns_prompts_speak_the_clients_language(world, german_client, lines, spoken, monkeypatch, tmp_path):
    """The client speaks German before its phones register: the engine hears of the change (Redis
    pub/sub) while they do, not after the campaign's command (another Redis connection) reached it,
    as it could when the language changed just before the dispatch (English heard, under load)."""
    from conferencing import tasks
    from conferencing.models import Campaign, Message
    from conferencing.notifications import campaign_create, message_create

    _caller, callee, _domain = lines
    op, client = world.client_a1_op, world.client_a1
    message = committed(lambda: message_create(actor=op, client=client, name="Drill", upload=upload(data=tone_wav(2))))
    campaign = committed(lambda: campaign_create(actor=op, client=client, name="Drill", message=message, numbers="102"))
    try:

        def running():
            with tenant_context(client):
                Campaign.objects.filter(pk=campaign.pk).update(status="running")

        committed(running)
        monkeypatch.setattr(tasks.campaign_dispatch, "apply_async", lambda args, countdown: None)
        assert committed(tasks.campaign_dispatch, client.pk, campaign.pk) == 1
        label = callee.wait_incoming()["call"]
        callee.wait_call_state(label, "confirmed")
        callee.record(label, tmp_path / "campaign.wav")
        callee.dtmf(label, "1")  # confirmed during the message: thanked, then the engine hangs up
        callee.wait_call_state(label, "disconnected", timeout=15)
        callee.wait_recorded(label)
    finally:

        def clean():
            with tenant_context(client):
                Campaign.objects.filter(pk=campaign.pk).delete()
                Message.objects.filter(pk=message.pk).delete()

        committed(clean)
    rate, samples = read_wav(tmp_path / "campaign.wav")  # the message's tone, cut short, then the thanks
    assert_spoken_in("de", language_heard(spoken, rate, np.asarray(samples, dtype=np.int16), "thanks"))
