"""Blocking producers in a worker thread, consumed on the asyncio loop.

llama.cpp (and any other blocking engine) yields pieces from a C library in a thread;
the Assistant consumes them on the loop that also draws the screen and serves the web.
``iterate_in_thread`` is that bridge, used by the Assistant and by ``kiosk bench llm``
(which measures exactly this path against the raw library).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")

_END = object()


async def iterate_in_thread(
    produce: Callable[[], Iterable[T]], cancel: threading.Event, executor: Executor | None = None
) -> AsyncIterator[T]:
    """Run ``produce()`` on ``executor`` (None: the loop's default) and yield its items here.

    An exception raised by the producer is raised again here, unchanged, after the items
    before it. ``cancel`` is checked between items and set when the consumer stops
    (normally, by an error, or by being cancelled); the worker is then waited for even
    if the consumer is cancelled again meanwhile, so the engine is idle once this
    returns. Use it inside ``contextlib.aclosing`` when breaking out of the loop early.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[bool, object]] = asyncio.Queue()

    def put(item: tuple[bool, object]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        try:
            for item in produce():
                if cancel.is_set():
                    break
                put((True, item))
        except BaseException as e:  # handed over to the loop, raised there
            put((False, e))
        finally:
            put((False, _END))

    worker = loop.run_in_executor(executor, work)
    try:
        while True:
            ok, item = await queue.get()
            if ok:
                yield item  # type: ignore[misc]
            elif item is _END:
                return
            else:
                raise item  # type: ignore[misc]
    finally:
        cancel.set()
        await wait_uncancellable(worker)


async def wait_uncancellable(fut: asyncio.Future) -> None:
    """Wait for a worker to finish even if we are cancelled meanwhile, then re-raise the
    cancellation: llama.cpp is not thread-safe, so the model must not be handed on while
    the thread still runs."""
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
