"""The SIGTERM handler: it flushes, then chains to the handler that was there or takes the default action (the
process dies by SIGTERM); it leaves alone a process that ignores SIGTERM; off the main thread it says once that it
cannot be installed. Each case runs in a process of its own, which the test signals."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAFETY_NET_S = 60

PRELUDE = """
import os, signal, sys, threading, time
from funcscope.instrumentation import sigterm

def say(*words):
    print(*words, flush=True)

def on_sigterm(process_stops):
    say("flushed", process_stops)
"""


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(script)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=SAFETY_NET_S,
    )


def test_without_an_earlier_handler_it_flushes_then_dies_by_sigterm():
    proc = run(
        """
        say("installed", sigterm.instrument(on_sigterm))
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        say("still alive")
        """
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["installed True", "flushed True"]
    assert "still alive" not in proc.stdout


def test_an_earlier_handler_runs_after_the_flush_and_decides():
    proc = run(
        """
        def theirs(signum, frame):
            say("theirs", signum == signal.SIGTERM)
            sys.exit(3)

        signal.signal(signal.SIGTERM, theirs)
        sigterm.instrument(on_sigterm)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        """
    )
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["flushed False", "theirs True"]  # the process may live on: no stop


def test_an_earlier_handler_that_returns_keeps_the_process_alive():
    proc = run(
        """
        signal.signal(signal.SIGTERM, lambda signum, frame: say("theirs"))
        sigterm.instrument(on_sigterm)
        signal.raise_signal(signal.SIGTERM)
        say("still alive")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:3] == ["flushed False", "theirs", "still alive"]


def test_a_second_sigterm_during_the_flush_ends_the_process_at_once():
    proc = run(
        """
        def slow_flush(process_stops):
            say("flushing")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
            say("flushed")

        sigterm.instrument(slow_flush)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        """
    )
    assert proc.returncode == -signal.SIGTERM and proc.stdout.split("\n")[0] == "flushing"
    assert "flushed" not in proc.stdout.replace("flushing", "")


def test_a_failing_flush_still_lets_the_process_die_by_sigterm():
    proc = run(
        """
        def broken(process_stops):
            raise RuntimeError("no flush today")

        sigterm.instrument(broken)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        """
    )
    assert proc.returncode == -signal.SIGTERM
    assert proc.stderr.count("the flush at SIGTERM failed: RuntimeError('no flush today')") == 1


def test_a_process_that_ignores_sigterm_is_left_alone():
    proc = run(
        """
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("installed", sigterm.instrument(on_sigterm), sigterm.installed())
        os.kill(os.getpid(), signal.SIGTERM)
        say("still alive", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["installed True False", "still alive True"]


def test_off_the_main_thread_nothing_is_installed_and_it_says_so_once():
    proc = run(
        """
        import logging
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        results = []
        for _ in range(3):
            thread = threading.Thread(target=lambda: results.append(sigterm.instrument(on_sigterm)), name="loader")
            thread.start()
            thread.join()
        say("installed", results, signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
        say("on the main thread", sigterm.instrument(), sigterm.installed())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["installed [False, False, False] True", "on the main thread True True"]
    (message,) = [line for line in proc.stderr.splitlines() if "SIGTERM" in line]
    assert "set up on thread 'loader'" in message and "FUNCSCOPE_FLUSH=invocation" in message


def test_uninstrument_puts_the_earlier_handler_back():
    proc = run(
        """
        def theirs(signum, frame):
            pass

        signal.signal(signal.SIGTERM, theirs)
        sigterm.instrument(on_sigterm)
        replaced = signal.getsignal(signal.SIGTERM) is not theirs
        sigterm.uninstrument()
        say(replaced, signal.getsignal(signal.SIGTERM) is theirs, sigterm.installed())
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True True False"


@pytest.mark.parametrize("flush", ["background", "invocation"])
def test_the_runner_ends_invocations_in_flight_and_flushes_at_sigterm(flush):
    """Through the runner: SIGTERM while an invocation runs ends it (abandoned, ERROR) and exports it before the
    process dies, although the batch processor would have waited ten minutes."""
    proc = run(
        f"""
        os.environ["OTEL_BSP_SCHEDULE_DELAY"] = "600000"
        os.environ["FUNCSCOPE_FLUSH"] = {flush!r}
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
        from funcscope.runtime import get_runner
        from tests.unit.fakes import FakeContext

        provider = TracerProvider()
        line = lambda span: f"span {{span.name}} {{span.status.status_code.name}}" + chr(10)
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(formatter=line)))
        trace.set_tracer_provider(provider)
        runner = get_runner()
        runner.configure(metrics=False)
        done = FakeContext("done")
        runner.start(done, {{}}, runner)
        runner.finish(done, None, runner)
        runner.start(FakeContext("running"), {{}}, runner)
        say("signalling")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        """
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    lines = proc.stdout.split("\n")
    assert "span done UNSET" in lines and "span running ERROR" in lines
    assert lines.index("span running ERROR") > lines.index("signalling")


def test_a_sigterm_taken_by_another_thread_still_wakes_the_waiting_main_thread():
    """The kernel may hand SIGTERM to any thread; Python then runs the handler only once the main thread runs
    again, and a main thread waiting in a system call without a timeout (an idle event loop) never would."""
    proc = run(
        """
        import select
        sigterm.instrument(on_sigterm)
        waiting_r, _ = os.pipe()

        def elsewhere():
            time.sleep(0.2)
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)  # delivered to this thread, not the main one

        threading.Thread(target=elsewhere).start()
        say("waiting")
        select.select([waiting_r], [], [])  # no timeout: only a signal to this thread ends it
        say("woke up without dying")
        """
    )
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["waiting", "flushed True"]


def test_a_wakeup_fd_set_before_still_gets_every_signal():
    proc = run(
        """
        theirs_r, theirs_w = os.pipe()
        os.set_blocking(theirs_w, False)
        signal.set_wakeup_fd(theirs_w)
        signal.signal(signal.SIGUSR1, lambda signum, frame: None)
        sigterm.instrument(on_sigterm)
        signal.raise_signal(signal.SIGUSR1)
        say("theirs got", list(os.read(theirs_r, 16)) == [signal.SIGUSR1])
        sigterm.uninstrument()
        say("theirs again", signal.set_wakeup_fd(-1) == theirs_w)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["theirs got True", "theirs again True"]
