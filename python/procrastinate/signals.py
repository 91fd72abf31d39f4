"""SIGTERM / SIGINT handling for the worker.

The first signal asks for a graceful stop, any further one for an immediate
stop. Handlers go on the running event loop (``loop.add_signal_handler``);
the previous handlers are put back when the block ends. Only the main thread
can install signal handlers: elsewhere (and on Windows) nothing is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop(graceful: Callable[[], None], immediate: Callable[[], None]) -> Iterator[None]:
    """Within the block, the first SIGINT/SIGTERM calls ``graceful``, the
    following ones ``immediate``."""
    if os.name == "nt" or threading.current_thread() is not threading.main_thread():
        logger.warning(
            "Skipping signal handling: only possible in the main thread, not on Windows",
            extra={"action": "skip_signal_handlers"},
        )
        yield
        return

    loop = asyncio.get_running_loop()
    previous: dict[signal.Signals, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}
    received = 0

    def handler(sig: signal.Signals) -> None:
        nonlocal received
        received += 1
        logger.debug(
            f"Received {sig.name}",
            extra={"action": "received_signal", "signal": sig.name, "count": received},
        )
        (graceful if received == 1 else immediate)()

    logger.debug("Installing signal handlers", extra={"action": "install_signal_handlers"})
    for sig in SIGNALS:
        loop.add_signal_handler(sig, handler, sig)
    try:
        yield
    finally:
        logger.debug(
            "Restoring previous signal handlers",
            extra={"action": "uninstall_signal_handlers"},
        )
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])
