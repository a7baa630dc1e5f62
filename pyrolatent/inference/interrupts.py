"""Stopping a fit cleanly: Ctrl-C (SIGINT) and SIGTERM become a flag that the
loop reads between steps, so the last good state is kept and checkpointed."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

__all__ = ["stop_signals"]


@contextmanager
def stop_signals():
    """Turn the first Ctrl-C (SIGINT) or SIGTERM into a flag checked between
    steps (main thread only); a second one interrupts at once."""
    flag = {"set": None}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["set"] is not None:  # a second signal interrupts at once
            raise KeyboardInterrupt
        flag["set"] = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
