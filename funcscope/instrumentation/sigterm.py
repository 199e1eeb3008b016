"""A flush when the worker is stopped: a SIGTERM handler that chains to what was there.

The Functions host stops a worker process with SIGTERM (scale-in, recycle, deployment). Neither the classic worker
nor the 3.13+ proxy worker handles it, so Python dies at once, runs no `atexit` handler, and what the batch
processors still hold is lost. funcscope's handler calls the callback the runner registered (end what is still in
flight and flush, within `flush_timeout_ms`), then does what would have happened without it:
- a Python handler that was installed before is called, and decides what happens next (it may stop the process
  its own way, or not at all);
- with none (the default action), the process dies by SIGTERM, with the exit status that says so.
A second SIGTERM during the flush skips straight to that. A process that ignores SIGTERM is left alone, and so is a
handler installed outside Python (it cannot be chained).

Python lets only the main thread install signal handlers. Both workers import the app, and so run `configure()`,
on their main thread (the thread that runs their event loop); elsewhere `instrument()` installs nothing and says so
once. The callback can be registered from any thread once the handler is in place.

Python runs a handler on the main thread, but the kernel may deliver SIGTERM to any thread, and then nothing wakes
a main thread that waits in a system call: an idle worker's event loop waits in `epoll_wait` with no timeout, so
the handler would never run and the process, which SIG_DFL would have ended at once, would live on until the host
kills it. So a wakeup fd (chained to one set before) wakes a watcher thread for every signal; when the handler has
not run shortly after a SIGTERM, the watcher sends it on to the main thread itself, whose system call then returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from ..shared.diagnostics import report_once
from ..shared.forksafe import unlocked_in_child

__all__ = ["instrument", "uninstrument", "installed"]

_lock = unlocked_in_child(threading.Lock())
_on_sigterm: Callable[[bool], None] | None = None  # called with True when the process stops right after
_previous: Any = None  # the handler found when funcscope's was installed
_installed = False
_handling = False
_handled = 0  # how many times the handler has started
_wakeup: tuple[int, int, int] | None = None  # (read end, write end, the wakeup fd set before) while installed
WAKE_AFTER_S = 0.05  # how long the watcher lets the main thread take a SIGTERM before it sends it there itself


def installed() -> bool:
    return _installed


def instrument(on_sigterm: Callable[[bool], None] | None = None) -> bool:
    """Install the handler (once; main thread only) and register `on_sigterm`, which receives whether the process
    is about to die (no earlier handler to decide). True when SIGTERM reaches funcscope, or ignoring it was chosen."""
    global _on_sigterm, _previous, _installed
    with _lock:
        if on_sigterm is not None:
            _on_sigterm = on_sigterm
        if _installed:
            return True
        thread = threading.current_thread()
        if thread is not threading.main_thread():
            report_once(
                ("sigterm", "thread"),
                f"no SIGTERM handler installed: funcscope was set up on thread {thread.name!r}, and Python installs "
                "signal handlers only on the main thread, so telemetry still buffered when the process is stopped may "
                "be lost. Import the app and call funcscope.configure() on the main thread, as the Functions workers "
                "do, or set FUNCSCOPE_FLUSH=invocation.",
            )
            return False
        previous = signal.getsignal(signal.SIGTERM)
        if previous is signal.SIG_IGN:
            return True  # the process outlives SIGTERM: the flush at exit covers it
        if previous is None:
            report_once(
                ("sigterm", "foreign"),
                "SIGTERM already has a handler installed outside Python, which funcscope cannot chain, "
                "so it leaves it alone: telemetry still buffered when the process is stopped may be lost.",
            )
            return False
        signal.signal(signal.SIGTERM, _handle)
        _previous, _installed = previous, True
        _watch_wakeups()
        return True


def uninstrument() -> None:
    """Put the earlier handler back (if funcscope's is still the one installed; main thread only)."""
    global _previous, _installed, _wakeup
    with _lock:
        if not _installed or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _handle:
            signal.signal(signal.SIGTERM, _previous)
        _previous, _installed = None, False
        if _wakeup is not None:
            read_end, write_end, before = _wakeup
            _wakeup = None
            if signal.set_wakeup_fd(before) != write_end:  # someone set theirs since: keep it
                signal.set_wakeup_fd(signal.set_wakeup_fd(-1))
            os.close(write_end)  # the watcher reads the end of the pipe and stops


def _watch_wakeups() -> None:
    # Main thread, with _lock held.
    global _wakeup
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    try:
        before = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        os.close(read_end)
        os.close(write_end)
        return
    _wakeup = (read_end, write_end, before)
    watcher = threading.Thread(target=_watch, args=(read_end, before), name="funcscope-sigterm", daemon=True)
    contextvars.Context().run(watcher.start)


def _watch(read_end: int, before: int) -> None:
    main = threading.main_thread().ident
    echo = False  # the next SIGTERM byte is the one sent on to the main thread
    try:
        while data := os.read(read_end, 512):
            if before >= 0:
                with contextlib.suppress(OSError):
                    os.write(before, data)  # whoever set a wakeup fd before still gets every signal
            if signal.SIGTERM not in data or main is None:
                continue
            if echo:
                echo = False
                continue
            handled = _handled
            time.sleep(WAKE_AFTER_S)
            if _handled == handled and not _handling:
                echo = True
                signal.pthread_kill(main, signal.SIGTERM)  # delivered there, it ends the main thread's wait
    finally:
        os.close(read_end)


def _handle(signum: int, frame: FrameType | None) -> Any:
    global _handling, _handled
    _handled += 1
    previous = _previous
    chained = callable(previous)
    if not _handling:
        _handling = True
        try:
            callback = _on_sigterm
            if callback is not None:
                callback(not chained)
        except Exception as exc:
            report_once(("sigterm", "flush", type(exc).__name__), f"the flush at SIGTERM failed: {exc!r}", exc=exc)
        finally:
            _handling = False
    if chained:
        return previous(signum, frame)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)
    return None


def _after_fork_in_child() -> None:
    # A forked child (a multiprocessing worker) keeps the handler but not the watcher thread, and its wakeup fd is
    # the parent's pipe: a SIGTERM to the child would be read by the parent's watcher, which would send it on to
    # the parent. The child gets a pipe and a watcher of its own (it is single-threaded here, and its main thread).
    global _wakeup
    if _wakeup is None:
        return
    read_end, write_end, before = _wakeup
    _wakeup = None
    with contextlib.suppress(OSError, ValueError):
        signal.set_wakeup_fd(before)
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)
    if _installed:
        _watch_wakeups()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
