"""A progress bar with an estimate for long benchmarks, on stderr.

Why: a benchmark that prints nothing for minutes looks hung to the operator who started
it. ``rich`` is already installed (Textual depends on it), so no new dependency. The bar
goes to stderr, so ``--json`` output on stdout stays clean; on a non-terminal it prints
nothing but the final line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    def __init__(self, progress: Progress, task: int) -> None:
        self._progress = progress
        self._task = task

    def advance(self, status: str = "") -> None:
        self._progress.update(self._task, advance=1, status=status)


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Bar]:
    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        yield Bar(progress, progress.add_task(label, total=total, status=""))


class _Quiet:
    def advance(self, status: str = "") -> None:
        pass


@contextmanager
def steps(label: str, total: int, enabled: bool | None = None) -> Iterator[Bar | _Quiet]:
    """``progress_bar``, drawn only where stderr is a terminal (unless ``enabled`` says):
    the benches call this so a CI log is not filled with bars."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield _Quiet()
        return
    with progress_bar(total, label) as bar:
        yield bar
