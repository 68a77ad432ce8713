"""Progress bars for the long commands (`simulate`, `evaluate`, `score`), on stderr.

A bar shows only when stderr is a terminal and ``--quiet`` was not given, so piped output and logs
stay clean. It is drawn with rich (already installed with typer) and is gone when the work is done.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

#: ``(done, total)``: how far the work is, in units the caller chooses.
Progress = Callable[[int, int], None]


def _silent(done: int, total: int) -> None:
    return None


def bars_wanted(quiet: bool, stream=None) -> bool:
    """True when a bar helps: not ``quiet`` and ``stream`` (stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return not quiet and bool(getattr(stream, "isatty", lambda: False)())


@contextmanager
def progress_bar(description: str, quiet: bool = False, unit: str = "") -> Iterator[Progress]:
    """Yield a ``(done, total)`` callback that moves a bar on stderr (a no-op when no bar is wanted)."""
    if not bars_wanted(quiet):
        yield _silent
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeRemainingColumn(),
    ]
    with Bars(*columns, console=Console(stderr=True), transient=True) as bars:
        task = bars.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bars.update(task, completed=done, total=total)

        yield update


__all__ = ["Progress", "bars_wanted", "progress_bar"]
