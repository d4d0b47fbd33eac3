"""Progress bars for long command-line work (migrations, compiling a folder, benches).

Drawn on stderr, so stdout stays the command's result; at a terminal only: piped or in CI, the
bar stays silent and the command's own summary lines say what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

_stderr = Console(stderr=True)


@contextlib.contextmanager
def progress(total: int, description: str, *, console: Console | None = None) -> Iterator[Callable[[str], None]]:
    """A bar of ``total`` steps; the callable advances it by one, naming the step just done."""
    console = console or _stderr
    if not console.is_terminal:
        yield lambda _done: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("[dim]{task.fields[last]}"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total, last="")

        def advance(done: str) -> None:
            bar.update(task, advance=1, last=done)

        yield advance
