"""Child work every way there is, each piece with its own span and log record."""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from opentelemetry import trace

log = logging.getLogger("v1app")
tracer = trace.get_tracer("v1app")


def child(name: str) -> None:
    with tracer.start_as_current_span(name):
        log.info("log from %s", name)


def sync_children() -> None:
    thread = threading.Thread(target=child, args=("thread",))
    thread.start()
    thread.join()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(child, "pool").result()


async def async_children() -> None:
    await asyncio.to_thread(child, "to_thread")
    await asyncio.get_running_loop().run_in_executor(None, child, "executor")
    await asyncio.create_task(_achild("task"))


async def _achild(name: str) -> None:
    await asyncio.sleep(0)
    child(name)
