"""What the functions of the delivered_v1 and delivered_v2 test apps do: log from their body and from a thread
or task they start, call out with each HTTP client and an Azure SDK client (to `DOWNSTREAM_URL`), fail as asked.
Each HTTP client's call carries a function key in its query (`?code=`), which must not arrive anywhere.

The app imports this after `funcscope.configure()`, as a function app imports its libraries; the HTTP clients and
the Azure SDK are instrumented when they are imported here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading

import aiohttp
import httpx
import requests
from azure.storage.blob import ContainerClient

from .arrivals import PLANTED_KEY

log = logging.getLogger("app")


def _downstream(path: str) -> str:
    return f"{os.environ['DOWNSTREAM_URL']}/{path}"


def _keyed(path: str) -> str:
    """A call to another function, its key in the URL as the host accepts it."""
    return f"{_downstream(path)}?code={PLANTED_KEY}&page=1"


def hello(name: str) -> str:
    """Sync HTTP: requests from the body, httpx from a thread it starts, an Azure SDK call from the body."""
    log.warning("%s: from the body", name)
    requests.get(_keyed("requests"), timeout=10)

    def in_thread() -> None:
        log.warning("%s: from a thread", name)
        with httpx.Client() as client:
            client.get(_keyed("httpx"), timeout=10)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    ContainerClient(_downstream("devstoreaccount1"), "orders").exists()
    return name


async def ahello(name: str) -> str:
    """Async HTTP: httpx from the body, aiohttp from a task it starts."""
    log.warning("%s: from the body", name)
    async with httpx.AsyncClient() as client:
        await client.get(_keyed("httpx"), timeout=10)

    async def in_task() -> None:
        log.warning("%s: from a task", name)
        async with aiohttp.ClientSession() as session, session.get(_keyed("aiohttp")) as response:
            await response.read()

    await asyncio.create_task(in_task())
    return name


def quiet(name: str) -> None:
    """A queue, timer or plain HTTP function: one record from the body."""
    log.warning("%s: from the body", name)


def boom(name: str) -> None:
    log.error("%s: about to fail", name)
    raise RuntimeError(f"{name} failed as asked")
