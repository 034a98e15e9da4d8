"""A feature application that exists only in the tests: *43 answers and sends the caller's own audio
back to it (an echo test). It shows that a feature is one module: it registers its code and uses the
call core's methods, and no engine file knows about it. Loaded by the engines the tests start with
OCX_ENGINE_APPLICATIONS=tests.telephony.echo_application."""

from __future__ import annotations

from telephony import features
from telephony.engine.application import Application, Incoming, feature
from telephony.engine.call import Call
from telephony.engine.states import State

ECHO = features.FeatureCode("*43", "echo")
ECHO_SSRC = bytes.fromhex("0ec0ec00")  # a phone drops packets that carry its own SSRC


class Echo(Application):
    state = State.IVR

    def __init__(self, call: Call):
        media = call.caller.media

        def back(packet: bytes) -> None:  # every packet comes straight back, as from another source
            media.send_rtp(packet[:8] + ECHO_SSRC + packet[12:])

        call.listen(back)


@feature(ECHO)
async def echo(call: Call, incoming: Incoming) -> None:
    call.open_record(call.route_alone(incoming), incoming.dialled)
    if not await call.answer_alone(incoming.offer):
        return
    call.take(Echo(call))
    call.answered(by=ECHO.prefix)
