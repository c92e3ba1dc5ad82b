"""A time limit for work done in this process: checking a query counts toward its timeout.

The guard runs in the CLI's own process (the catalog, the policy and sqlglot are here;
moving them to the worker would cost a serialisation per query), so it cannot be killed
like the worker. Two mechanisms bound it instead:

* in the main thread, an interval timer (``SIGALRM``) interrupts the work wherever it is,
  even inside one long sqlglot call; the exception it raises derives from BaseException,
  so no ``except Exception`` on the way (sqlglot's, lineage's fallbacks) swallows it;
* everywhere, :func:`checkpoint` between stages raises once the deadline has passed: the
  bound where no timer can be used (another thread, a timer already armed by the caller).

:func:`time_limit` turns either into :class:`~nl2sql.errors.QueryTimeout`, the error (and
exit code) of a query that runs too long.
"""

from __future__ import annotations

import contextvars
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nl2sql.errors import QueryTimeout

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("nl2sql_deadline",
                                                                          default=None)


class _OutOfTime(BaseException):
    """Raised inside the limited work; :func:`time_limit` turns it into QueryTimeout."""


@contextmanager
def time_limit(seconds: float | None, what: str = "checking the query") -> Iterator[None]:
    """Run the body within ``seconds`` (None: no limit) or raise :class:`QueryTimeout`.

    >>> with time_limit(None):
    ...     pass
    """
    if seconds is None:
        yield
        return
    token = _deadline.set(time.monotonic() + max(seconds, 0.0))
    try:
        try:
            previous = _handle()
            try:
                if previous is not None:
                    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-6))
                yield
            finally:
                _disarm(previous)  # the timer may fire just before: the outer except has it
        finally:
            _deadline.reset(token)
    except _OutOfTime:
        raise QueryTimeout(f"{what} took longer than the {seconds:g} s query timeout; it was "
                           "stopped") from None


def checkpoint() -> None:
    """Raise (inside :func:`time_limit`) once the deadline has passed."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise _OutOfTime


def remaining() -> float | None:
    """Seconds left before the current deadline (None: no limit)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _raise_out_of_time(signum: int, frame: Any) -> None:
    raise _OutOfTime


def _handle() -> Any:
    """Install the SIGALRM handler when this is the main thread and no timer is armed
    already; returns the handler to restore, or None when only checkpoints bound the work."""
    if threading.current_thread() is not threading.main_thread() \
            or not hasattr(signal, "setitimer") or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        return None
    previous = signal.signal(signal.SIGALRM, _raise_out_of_time)
    return signal.SIG_DFL if previous is None else previous


def _disarm(previous: Any) -> None:
    """Stop the timer and put the handler back. Ignored first: a signal that arrives from
    then on is dropped, not raised where nothing would turn it into a QueryTimeout."""
    if previous is None:
        return
    try:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
