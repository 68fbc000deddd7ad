"""A lock that hands the model over in arrival order.

Python's Lock lets the thread that releases it take it straight back, so a long recording's
back-to-back passes, or a few live sessions re-scoring every half second, could keep another
request waiting indefinitely. Taking turns first-come first-served bounds every wait to the
passes queued ahead of it.
"""

from __future__ import annotations

import threading
from collections import deque


class TurnLock:
    """A mutex granted in FIFO order; a context manager like threading.Lock."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._queue: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._guard:
            if not self._held and not self._queue:
                self._held = True
                return
            turn = threading.Event()
            self._queue.append(turn)
        try:
            turn.wait()  # release() handed the lock over: _held stayed True for this thread
        except BaseException:  # interrupted while queued: leave the queue, or pass the turn on
            with self._guard:
                if turn.is_set():
                    self._hand_over()
                else:
                    self._queue.remove(turn)
            raise

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unheld TurnLock")
            self._hand_over()

    def _hand_over(self) -> None:
        if self._queue:
            self._queue.popleft().set()
        else:
            self._held = False

    def __enter__(self) -> TurnLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
