"""Running the platform's long-lived asyncio services (the SIP edge, the call engines)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable


def run_service(main: Callable[[], Awaitable[None]]) -> None:
    """Run main() on uvloop until SIGINT or SIGTERM, which cancel it: its finally blocks clean up."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt
        pass
    asyncio.run(_until_signal(main))


async def _until_signal(main: Callable[[], Awaitable[None]]) -> None:
    runner = asyncio.ensure_future(main())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, runner.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await runner
