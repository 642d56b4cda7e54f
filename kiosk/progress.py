"""A progress bar with an estimate for long benchmarks, on stderr.

``kiosk bench answers`` asks sixty questions of a real model: minutes with nothing on the
screen look like a hang. Any bench wraps its loop in ``track(...)`` (or steps a
``Progress`` by hand) and the operator sees how far it is and how long it has left.
Rich draws it (it comes with Textual, so nothing new is installed); it writes to stderr,
so ``--json`` output on stdout stays clean, and where stderr is not a terminal (CI logs,
pipes) it draws nothing.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def _columns():
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
    )


class Steps:
    """What a bench holds while it runs: ``advance()`` after each step."""

    def __init__(self, progress, task) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1, note: str | None = None) -> None:
        if self._progress is not None:
            fields = {"description": note} if note else {}
            self._progress.update(self._task, advance=n, **fields)


@contextlib.contextmanager
def steps(description: str, total: int, enabled: bool | None = None) -> Iterator[Steps]:
    """A bar for ``total`` steps; drawn only where stderr is a terminal (unless ``enabled``)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield Steps(None, None)
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(*_columns(), console=Console(stderr=True), transient=True) as progress:
        yield Steps(progress, progress.add_task(description, total=total))


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a bar (for plain loops)."""
    seq = list(items) if total is None else items
    count = total if total is not None else len(seq)  # type: ignore[arg-type]
    with steps(description, count) as bar:
        for item in seq:
            yield item
            bar.advance()
