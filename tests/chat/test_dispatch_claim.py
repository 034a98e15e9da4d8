"""Chats and calls in one line, one CLAIM (queues/state.py) in real Redis: a chat head takes agents by
the queue's strategy and tiers as a caller does, up to each agent's chat limit, not while they are on a
call unless they take chats during calls; a caller skips agents with chats open unless they take both;
a chat head whose visitor's process went quiet is dropped as a caller is (chat/line.py: the visitor
joins again in their old place)."""

from __future__ import annotations

import pytest

from queues import state
from tests.queues.test_state import CLIENT, QUEUE, acd, claim, join, setup  # noqa: F401

WHERE = f"where:{CLIENT}"


def consoles(run, client, prefix, *exts: str) -> None:
    """Each agent's chat console open (chat/console.py says so while it is)."""
    for ext in exts:
        run(client.zadd(state.agent_key(prefix, CLIENT, ext) + ":consoles", {f"console-{ext}": 1e12}))


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [("in_order", ["101"]), ("longest_idle", ["103"]), ("fewest_calls", ["102"]), ("ring_all", ["101", "102", "103"])],
)
def test_a_chat_head_takes_agents_by_the_same_strategies_and_tiers(acd, strategy, expected):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (1, 1), "102": (1, 2), "103": (1, 3), "104": (2, 0), "105": (0, 0)},
          a101={"last_end": 50, "calls": 5}, a102={"last_end": 40, "calls": 1}, a103={"last_end": 10, "calls": 3},
          a105={"paused": "1"})  # fmt: skip
    consoles(run, client, prefix, "101", "102", "103", "104", "105")
    join(run, client, prefix, "chat:c1", 1.0)
    assert sorted(claim(run, client, prefix, "chat:c1", strategy)) == expected
    assert run(client.hget(state.agent_key(prefix, CLIENT, expected[0]), "offered")) == b"chat:c1"
    assert run(client.zscore(state.queue_key(prefix, CLIENT, QUEUE, "offering"), "chat:c1")) == 1.0


def test_a_chat_head_respects_each_agents_limit(acd):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2), "103": (0, 3)},
          a101={"chats": 2, "chat_limit": 2}, a102={"chats": 1, "chat_limit": 2}, a103={"chat_limit": 0})  # fmt: skip
    consoles(run, client, prefix, "101", "102", "103")
    join(run, client, prefix, "chat:c1", 1.0)
    assert claim(run, client, prefix, "chat:c1", "ring_all") == ["102"]  # 101 full, 103 takes no chats


def test_without_an_agent_row_the_limit_is_two(acd):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1)}, a101={"chats": 2})
    consoles(run, client, prefix, "101")
    join(run, client, prefix, "chat:c1", 1.0)
    assert claim(run, client, prefix, "chat:c1", "ring_all") == []
    run(client.hset(state.agent_key(prefix, CLIENT, "101"), "chats", 1))
    assert claim(run, client, prefix, "chat:c1", "ring_all") == ["101"]


@pytest.mark.parametrize("both", ["0", "1"])
def test_an_agent_on_a_call_gets_a_chat_only_if_they_take_both(acd, both):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2)},
          a101={"busy": "call-x", "both": both}, a102={"both": both})  # fmt: skip
    consoles(run, client, prefix, "101", "102")
    run(client.hset(f"{prefix}:{WHERE}", "line:102", "call-y"))  # 102 on a call of no queue (the call index)
    join(run, client, prefix, "chat:c1", 1.0)
    assert sorted(claim(run, client, prefix, "chat:c1", "ring_all")) == ([] if both == "0" else ["101", "102"])


@pytest.mark.parametrize("both", ["0", "1"])
def test_a_caller_skips_agents_in_a_chat_unless_they_take_both(acd, both):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2)},
          a101={"chats": 1, "both": both}, a102={"chats": 0, "both": both})  # fmt: skip
    join(run, client, prefix, "call-1", 1.0)
    assert sorted(claim(run, client, prefix, "call-1", "ring_all")) == (["102"] if both == "0" else ["101", "102"])


def test_one_line_a_caller_behind_a_chat_waits_for_it(acd):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1)})
    consoles(run, client, prefix, "101")
    join(run, client, prefix, "chat:c1", 1.0)
    join(run, client, prefix, "call-2", 2.0)
    run(client.hset(state.queue_key(prefix, CLIENT, QUEUE, "seen"), "chat:c1", 995.0))
    assert claim(run, client, prefix, "call-2", "in_order") == []  # the chat is first
    assert claim(run, client, prefix, "chat:c1", "in_order") == ["101"]
    run(client.hdel(state.agent_key(prefix, CLIENT, "101"), "offered"))
    run(client.hset(state.agent_key(prefix, CLIENT, "101"), "chats", 1))
    assert claim(run, client, prefix, "call-2", "in_order") == []  # 101 is in the chat now


def test_a_silent_chat_head_is_dropped_as_a_caller_is(acd):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1)})
    join(run, client, prefix, "chat:c1", 1.0)
    join(run, client, prefix, "call-2", 2.0)
    run(client.hset(state.queue_key(prefix, CLIENT, QUEUE, "seen"), "chat:c1", 1.0))  # its visitor's process died
    assert claim(run, client, prefix, "call-2", "in_order", now=1000.0) == ["101"]
    assert run(client.zscore(state.queue_key(prefix, CLIENT, QUEUE, "waiting"), "chat:c1")) is None


def test_only_agents_with_a_console_open_are_offered_chats(acd):  # noqa: F811
    run, client, prefix = acd
    setup(run, client, prefix, {"101": (0, 1), "102": (0, 2), "103": (0, 3)})
    consoles(run, client, prefix, "102")
    run(client.zadd(state.agent_key(prefix, CLIENT, "103") + ":consoles", {"old-console": 999.0}))  # gone quiet
    join(run, client, prefix, "chat:c1", 1.0)
    assert claim(run, client, prefix, "chat:c1", "ring_all", now=1000.0) == ["102"]
