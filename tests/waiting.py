"""Waiting in tests for what another process or thread does: poll for the condition, never sleep a
fixed time; and run database work on a connection of its own, committed, as another process sees it."""

from __future__ import annotations

import threading
import time


def wait_for(condition, what: str = "the condition", timeout: float = 5.0, poke=None):
    """condition()'s first truthy value within `timeout` seconds; poke() (if given) once a second
    meanwhile, e.g. to ask a worker to look again."""
    deadline, poked = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if poke is not None and time.monotonic() - poked >= 1:
            poke()
            poked = time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def committed(function, *args, **kwargs):
    """Run `function` on a database connection of its own (autocommit), as a worker or an engine
    would see its result."""
    box = {}

    def run():
        from django.db import connection

        try:
            box["value"] = function(*args, **kwargs)
        except BaseException as exc:
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
