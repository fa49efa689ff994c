"""Signal handling shared by every command: SIGTERM unwinds like Ctrl-C, so `finally`
blocks remove what a command created; cleanup itself is not cut short by a second
signal; and the entry point can say which signal stopped what.

`doing(what)` names the work in progress ("building 3 eval images"), so an interrupt is
reported as `error: interrupted by SIGTERM while building 3 eval images`; without one,
the command line is named.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# The last SIGINT/SIGTERM that interrupted this process (its name), and the work named
# by `doing` when it came (the stack has unwound by the time the entry point reports).
received: str | None = None
received_during: str | None = None
_doing: list[str] = []


def note(signum: int) -> None:
    """Remember a SIGINT/SIGTERM for the entry point's message (a handler that does not
    raise, like a batch's, calls this)."""
    global received, received_during
    received = signal.Signals(signum).name
    received_during = _doing[-1] if _doing else None


def _raise_interrupt(signum, frame):
    note(signum)
    raise KeyboardInterrupt


@contextmanager
def interrupts_reported() -> Iterator[None]:
    """The entry point's handlers: SIGINT and SIGTERM raise KeyboardInterrupt and are
    remembered in `received` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Name the work in progress, for the message an interrupt prints."""
    _doing.append(what)
    try:
        yield
    finally:
        _doing.pop()


def reset() -> None:
    """Forget a previous interrupt (the entry point runs more than once in tests)."""
    global received, received_during
    received = received_during = None
    _doing.clear()
