"""Stopping a training run cleanly on SIGTERM (what SLURM and other schedulers send before a kill) or Ctrl-C.

:class:`StopRequest` records the first SIGTERM/SIGINT instead of dying: the training loop looks at it between
iterations (and after a snapshot write, which always completes), stops at that safe point and raises
:class:`TrainingInterrupted` naming the last good snapshot. A second Ctrl-C abandons at once
(``KeyboardInterrupt``; a snapshot being written is removed, never left half-written). The exit code is the
conventional ``128 + signal number``: 143 for SIGTERM, 130 for SIGINT.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Self

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """The run stopped at a safe point on a signal; the message names the last good snapshot."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    def __reduce__(self):  # travels from a spawned worker to the launcher with its signal number
        return (type(self), (str(self), self.signum))


@contextmanager
def handle_signals(handler: Callable, signals=STOP_SIGNALS) -> Iterator[None]:
    """Install ``handler`` for ``signals`` while the block runs, then restore the previous handlers.
    Outside the main thread (where Python cannot install handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class StopRequest:
    """``with StopRequest() as stop: … if stop.requested: …`` — the first SIGTERM/SIGINT sets ``stop.signum``;
    a second SIGINT raises ``KeyboardInterrupt`` where the program is."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._ctx = None

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum

    def __enter__(self) -> Self:
        self._ctx = handle_signals(self._handler)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._ctx.__exit__(*exc)
