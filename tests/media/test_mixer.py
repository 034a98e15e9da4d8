"""The mixer: phones (UDP sockets on 127.0.0.1) send tones of their own through engine endpoints, and
what each phone receives back is checked by frequency: who hears whom."""

from __future__ import annotations

import asyncio
import itertools
import struct

import numpy as np

from telephony.media import DtmfCollector, Mixer, digit_train
from telephony.media.codecs import new_encoder
from tests.media.conftest import Phone, endpoint, power

HEARD = 1e6  # a tone of amplitude 8000 gives 1.6e7; 2000 gives 1e6
NOT_HEARD = 1e4  # amplitude 200: nothing but quantization noise
SECONDS = 0.8
SKIP = 0.2  # the start: jitter buffers filling, the mixer's first ticks


async def join(mixer: Mixer, pool, count: int, **options):
    phones = [await Phone.open() for _ in range(count)]
    endpoints = [await endpoint(pool, phone) for phone in phones]
    parties = [mixer.add(ep, "PCMU", voice_pt=0, event_pt=101, **options) for ep in endpoints]
    return phones, endpoints, parties


async def talk(phones, endpoints, freqs, seconds: float = SECONDS, **options) -> None:
    await asyncio.gather(*(phone.play(ep, seconds, freq, **options)
                           for phone, ep, freq in zip(phones, endpoints, freqs, strict=True)))  # fmt: skip
    await asyncio.sleep(0.1)  # what is still in the jitter buffers


def heard(phone: Phone, freqs: list[float]) -> dict[float, float]:
    audio = phone.audio(skip=SKIP)
    assert len(audio) >= 0.5 * 8000, len(audio)
    return {freq: power(audio, freq) for freq in freqs}


def assert_hears(phone: Phone, present: list[float], absent: list[float]) -> None:
    powers = heard(phone, present + absent)
    for freq in present:
        assert powers[freq] > HEARD, (freq, powers)
    for freq in absent:
        assert powers[freq] < NOT_HEARD, (freq, powers)


def test_three_parties_each_hear_the_other_two_and_not_themselves_in_a_stream_of_their_own(run, pool):
    freqs = [600.0, 1000.0, 1700.0]

    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 3)
        await talk(phones, endpoints, freqs)
        for k, phone in enumerate(phones):
            assert_hears(phone, [f for j, f in enumerate(freqs) if j != k], [freqs[k]])
        ssrcs = set()
        for phone in phones:
            markers, pts, seqs, timestamps, streams, payloads = zip(*phone.received, strict=True)
            assert set(pts) == {0} and len(set(streams)) == 1
            ssrcs |= set(streams)
            assert markers[0] and not any(markers[1:])
            assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
            assert all((b - a) % 2**32 == 160 for a, b in itertools.pairwise(timestamps))
            assert {len(p) for p in payloads} == {160}
            assert len(phone.received) >= 0.9 * (SECONDS + 0.1) / 0.02
        assert len(ssrcs) == 3
        assert all(party.talking for party in parties)  # the tones ended 0.1 s ago: within the hang time
        mixer.close()
        assert not mixer.running and all(ep.sink is None for ep in endpoints)

    run(main())


def test_a_muted_party_is_heard_by_no_one_and_still_hears_the_others(run, pool):
    freqs = [600.0, 1000.0, 1700.0]

    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 3)
        parties[0].muted = True
        await talk(phones, endpoints, freqs)
        assert_hears(phones[0], [1000.0, 1700.0], [600.0])
        assert_hears(phones[1], [1700.0], [600.0, 1000.0])
        assert_hears(phones[2], [1000.0], [600.0, 1700.0])
        assert parties[0].talking  # what it says, muted or not (a portal can show "you are muted")

    run(main())


def test_a_whisper_is_heard_by_its_target_only(run, pool):
    caller, agent, supervisor = 600.0, 1000.0, 1700.0

    async def main():
        mixer = Mixer()
        phones, endpoints, (_, agent_party, supervisor_party) = await join(mixer, pool, 3)
        supervisor_party.heard_by = {agent_party}
        await talk(phones, endpoints, [caller, agent, supervisor])
        assert_hears(phones[0], [agent], [caller, supervisor])  # the caller does not hear the supervisor
        assert_hears(phones[1], [caller, supervisor], [agent])  # the agent hears both
        assert_hears(phones[2], [caller, agent], [supervisor])  # the supervisor hears the call

        for phone in phones:
            phone.received.clear()
        supervisor_party.muted = True  # muted wins over the whisper
        await talk(phones, endpoints, [caller, agent, supervisor], seconds=0.7)
        assert_hears(phones[1], [caller], [agent, supervisor])

    run(main())


def test_a_monitor_hears_both_and_is_heard_by_none_and_barge_makes_it_a_party(run, pool):
    caller, agent, supervisor = 600.0, 1000.0, 1700.0

    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 3)
        parties[2].heard_by = ()  # heard by no one: monitoring (muted says the same)
        await talk(phones, endpoints, [caller, agent, supervisor])
        assert_hears(phones[0], [agent], [caller, supervisor])
        assert_hears(phones[1], [caller], [agent, supervisor])
        assert_hears(phones[2], [caller, agent], [supervisor])

        for phone in phones:
            phone.received.clear()
        parties[2].heard_by = None  # barge
        await talk(phones, endpoints, [caller, agent, supervisor])
        assert_hears(phones[0], [agent, supervisor], [caller])
        assert_hears(phones[1], [caller, supervisor], [agent])

    run(main())


def test_a_deaf_party_gets_only_silence_and_is_still_heard(run, pool):
    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 3)
        parties[0].deaf = True
        await talk(phones, endpoints, [600.0, 1000.0, 1700.0])
        audio = phones[0].audio()
        assert len(audio) > 0.8 * SECONDS * 8000  # it still gets packets: silence keeps NAT and its jitter buffer alive
        assert int(np.abs(audio.astype(np.int32)).max()) < 10
        assert_hears(phones[1], [600.0, 1700.0], [1000.0])

    run(main())


def test_gain_scales_what_a_party_says_and_the_sum_clips_instead_of_wrapping(run, pool):
    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 3)
        parties[1].gain = 0.5
        await talk(phones, endpoints, [600.0, 1000.0, None])
        powers = heard(phones[2], [600.0, 1000.0])
        assert 0.2 < powers[1000.0] / powers[600.0] < 0.3  # half the amplitude: a quarter of the power

        for phone in phones:
            phone.received.clear()
        parties[1].gain = 1.0
        loud = [np.full(160, 24000, dtype=np.int16)]  # two of these add up to 48000
        await asyncio.gather(phones[0].play(endpoints[0], 0.5, frames=loud),
                             phones[1].play(endpoints[1], 0.5, frames=loud),
                             phones[2].play(endpoints[2], 0.5))  # fmt: skip
        await asyncio.sleep(0.1)
        audio = phones[2].audio(skip=0.2)
        assert audio.min() >= 0  # never wrapped to negative
        assert np.count_nonzero(audio > 30000) > 0.2 * 8000  # clipped at the top

    run(main())


def test_alone_a_party_gets_silence_others_join_and_leave_and_an_empty_mixer_stops(run, pool):
    async def main():
        mixer = Mixer()
        phones, endpoints, parties = await join(mixer, pool, 1)
        await talk(phones, endpoints, [600.0], seconds=0.4)
        alone = phones[0].audio()
        assert len(alone) > 0.3 * 8000 and int(np.abs(alone.astype(np.int32)).max()) < 10

        more_phones, more_endpoints, more = await join(mixer, pool, 2)
        for phone in phones:
            phone.received.clear()
        await talk(phones + more_phones, endpoints + more_endpoints, [600.0, 1000.0, 1700.0])
        assert_hears(phones[0], [1000.0, 1700.0], [600.0])
        assert_hears(more_phones[0], [600.0, 1700.0], [1000.0])

        mixer.remove(more[1])
        assert more_endpoints[1].sink is None and more[1].mixer is None
        await asyncio.sleep(0.01)  # what was on its way
        for phone in phones + more_phones:
            phone.received.clear()
        await talk(phones + more_phones[:1], endpoints + more_endpoints[:1], [600.0, 1000.0])
        assert_hears(phones[0], [1000.0], [600.0, 1700.0])
        assert more_phones[1].received == []  # removed: it is sent nothing more

        mixer.remove(parties[0])
        mixer.remove(more[0])
        assert not mixer.running
        ticks = mixer.ticks
        await asyncio.sleep(0.06)
        assert mixer.ticks == ticks
        mixer.add(endpoints[0], "PCMU", voice_pt=0)  # and starts again
        await asyncio.sleep(0.06)
        assert mixer.running and mixer.ticks > ticks

    run(main())


def test_the_talking_indicator_follows_the_level_with_a_hang_time(run, pool):
    async def main():
        changes = []
        mixer = Mixer(hang=0.1)
        loop = asyncio.get_running_loop()
        mixer.on_talking = lambda party, talking: changes.append((party.name, talking, loop.time()))
        phones, endpoints, (talker, quiet) = await join(mixer, pool, 2)
        seen = []
        talker.on_talking = seen.append
        start = loop.time()
        await phones[0].play(endpoints[0], 0.2)
        await phones[0].play(endpoints[0], 0.4, 600.0, amplitude=3000)
        assert talker.talking and not quiet.talking
        await phones[0].play(endpoints[0], 0.4, 600.0, amplitude=100)  # below the talking level
        assert not talker.talking
        assert seen == [True, False]
        assert [(name, talking) for name, talking, _ in changes] == [(talker.name, True), (talker.name, False)]
        on, off = changes[0][2] - start, changes[1][2] - start
        assert 0.2 < on < 0.35  # the tone started at 0.2 s, plus the jitter buffer
        assert 0.65 < off < 0.9  # it ended at 0.6 s, plus the jitter buffer and 0.1 s of hang time

    run(main())


def test_dtmf_events_go_to_the_partys_callback_and_are_not_mixed(run, pool):
    async def main():
        mixer = Mixer()
        phones, endpoints, (caller, _) = await join(mixer, pool, 2)
        collector = DtmfCollector(event_pt=101)
        caller.on_telephone_event = collector.push_packet
        for digit, ts in (("4", 1000), ("2", 3000)):
            for payload in digit_train(digit, duration=0.06):
                phones[0].send(endpoints[0], payload, pt=101, ts=ts)
                await asyncio.sleep(0.02)
        assert (await collector.collect(max_digits=2, first=0.5)).digits == "42"
        await asyncio.sleep(0.1)
        assert int(np.abs(phones[1].audio().astype(np.int32)).max()) < 10  # the other party heard nothing of it
        assert caller.inbound.events == 10

    run(main())


def test_digits_sent_to_a_party_are_rfc4733_events_in_its_own_stream(run, pool):
    async def main():
        mixer = Mixer()
        phones, endpoints, (party, _) = await join(mixer, pool, 2)
        await asyncio.sleep(0.05)
        party.send_digits("5#", duration=0.06, pause=0.04)
        await phones[1].play(endpoints[1], 0.5, 1000.0)
        packets = phones[0].received
        assert len({p[4] for p in packets}) == 1  # one SSRC for audio and events
        seqs = [p[2] for p in packets]
        assert all((b - a) % 65536 == 1 for a, b in itertools.pairwise(seqs))
        events = [p for p in packets if p[1] == 101]
        assert len(events) == 2 * (3 + 2)  # a 60 ms press: two packets, then the end three times
        for digit, train in ((5, events[:5]), (11, events[5:])):
            assert [p[0] for p in train] == [0x80, 0, 0, 0, 0]
            assert len({p[3] for p in train}) == 1
            fields = [struct.unpack("!BBH", p[5]) for p in train]
            ends = [(digit, 0x80, 480)] * 3
            assert [(event, flags & 0x80, duration) for event, flags, duration in fields] == [
                (digit, 0, 160), (digit, 0, 320), *ends]  # fmt: skip
        assert events[5][3] - events[0][3] == 160 * (5 + 2)  # the second press starts after the first and the pause
        assert power(phones[0].audio(skip=0.35), 1000.0) > HEARD  # and the mix goes on after them

    run(main())


def test_a_mixer_on_plain_g711a_mixes_for_each_codec(run, pool):
    async def main():
        mixer = Mixer()
        a = await Phone.open(codec="PCMA", pt=8)
        u = await Phone.open()
        ea, eu = await endpoint(pool, a), await endpoint(pool, u)
        mixer.add(ea, "PCMA", voice_pt=8)
        mixer.add(eu, "PCMU", voice_pt=0)
        await talk([a, u], [ea, eu], [600.0, 1000.0])
        assert {p[1] for p in a.received} == {8} and {p[1] for p in u.received} == {0}
        assert_hears(a, [1000.0], [600.0])
        assert_hears(u, [600.0], [1000.0])
        assert new_encoder("PCMA")(np.zeros(160, dtype=np.int16)) in {p[5] for p in a.received}

    run(main())


def test_without_the_gate_every_frame_is_mixed_and_many_talkers_in_both_laws_hear_all_but_themselves(run, pool):
    freqs = [350.0, 600.0, 1000.0, 1300.0, 1700.0]
    laws = [("PCMU", 0), ("PCMA", 8), ("PCMU", 0), ("PCMA", 8), ("PCMU", 0)]

    async def main():
        mixer = Mixer(gate_level=None)
        mixer.on_talking = lambda party, talking: 1 / 0  # a consumer's bug costs nobody their audio
        phones = [await Phone.open(codec=codec, pt=pt) for codec, pt in laws]
        endpoints = [await endpoint(pool, phone) for phone in phones]
        for ep, (codec, pt) in zip(endpoints, laws, strict=True):
            mixer.add(ep, codec, voice_pt=pt)
        await talk(phones, endpoints, freqs, amplitude=5000)
        for k, phone in enumerate(phones):
            assert_hears(phone, [f for j, f in enumerate(freqs) if j != k], [freqs[k]])

    run(main())
