"""The call engine: a B2BUA that anchors every call and carries its media. A map:

- Where a call starts. `server.py` (Engine) owns the SIP socket (`sipua.py`, the user agent), the
  table of calls by Call-ID, the command channel (typed commands, telephony/commands.py, through
  one dispatch table) and the background work (heartbeat, events to the portals, dead engines'
  records). A phone's INVITE makes a `Call` (`call.py`) and runs `Call.start`; a command that
  places a call (click-to-call, a notification, a conference dial-out) makes an `OriginatedCall`
  (`applications/clicktocall.py`) or one of its subclasses.
- Where a call's state lives. `call.py` is the call core: two `Side`s of one kind (`caller`,
  `callee`: the dialog, RTP endpoint, codec and party on each), the state (`states.py`: the states
  and the transitions allowed between them, changed only by `Call.move`), the table of what each
  in-dialog request does in each state (`REQUESTS`), routing to a line, hold, ending, and the call
  record (written through the spool by records/writer.py). Codec negotiation is `negotiation.py`;
  the dial plan `dialplan.py`; the watch over every call (RTP timeouts, session timers, dialogs in
  the call index) `liveness.py` and `sessiontimer.py`.
- Where a feature plugs in. `application.py` is the interface: an application registers its feature
  codes (telephony/features.py, the table the edges read too) and the numbers it answers, and holds
  a call (`Call.take`) or attaches to it through the core's methods. The built-in ones are in
  `applications/`: `transfer.py` (blind and attended transfers, REFER, park and retrieve),
  `pickup.py`, `supervision.py` (monitor, whisper, barge), `conference.py` (dial-in with the PIN
  prompt, the running conference and its mixer), `dialout.py` (a conference's dial-out and call-out),
  `notify.py` (mass-notification calls), `library.py` (recording a message by phone) and
  `clicktocall.py`. Another one is one more module, named in OCX_ENGINE_APPLICATIONS or added to
  `application.BUILTIN`; tests/telephony/echo_application.py is one that only the tests load.
- Media: `media_ports.py` hands out RTP endpoints and relays; the media engine itself (RTP, jitter,
  codecs, mixer, player, recorder, DTMF) is telephony/media/.
"""
