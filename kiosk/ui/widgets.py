"""Small widgets the visitor screens share: big title, waiting indicator, idle warning.

Each one only shows what it is told (attributes down); none of them holds a visitor's
words beyond the widget's own lifetime, and the screens that own them are thrown away
on every reset.
"""

from __future__ import annotations

import functools
import time

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input, Static

# --- the venue's name, large ---------------------------------------------------------------

# Block letters read from a step back; box-drawing ones still read at 80 columns. Larger
# first: the first that fits both the width and the height budget wins.
TITLE_FONTS: tuple[tuple[str, int], ...] = (("ansi_regular", 2), ("ansi_regular", 1), ("future", 1))


@functools.lru_cache(maxsize=256)
def _figlet_rows(font: str, text: str) -> tuple[str, ...]:
    import pyfiglet

    rendered = pyfiglet.Figlet(font=font, width=100_000).renderText(text)
    rows = [r.rstrip() for r in rendered.split("\n")]
    while rows and not rows[-1].strip():
        rows.pop()
    while rows and not rows[0].strip():
        rows.pop(0)
    return tuple(rows)


def _scaled(rows: tuple[str, ...], scale: int) -> list[str]:
    if scale == 1:
        return list(rows)
    out = []
    for row in rows:
        wide = "".join(ch * scale for ch in row)
        out.extend([wide] * scale)
    return out


def _width(rows: list[str]) -> int:
    return max((len(r) for r in rows), default=0)


def _wrap_words(words: list[str], render, width: int) -> list[list[str]] | None:
    """Greedy word wrap measured in rendered columns; None if one word alone is too wide."""
    lines: list[list[str]] = []
    current: list[str] = []
    for word in words:
        candidate = [*current, word]
        if _width(render(" ".join(candidate))) <= width:
            current = candidate
            continue
        if not current:
            return None
        lines.append(current)
        current = [word]
        if _width(render(word)) > width:
            return None
    if current:
        lines.append(current)
    return lines


@functools.lru_cache(maxsize=64)
def title_rows(text: str, width: int, max_rows: int) -> tuple[tuple[str, ...], str]:
    """The title as big as ``width`` x ``max_rows`` allows: (rows, font used or "plain")."""
    words = text.split()
    if width > 0 and max_rows > 0 and words:
        for font, scale in TITLE_FONTS:

            def render(s: str, font: str = font, scale: int = scale) -> list[str]:
                return _scaled(_figlet_rows(font, s), scale)

            lines = _wrap_words(words, render, width)
            if lines is None:
                continue
            rows: list[str] = []
            for i, line in enumerate(lines):
                if i:
                    rows.append("")
                rendered = render(" ".join(line))
                pad = _width(rendered)
                rows.extend(r.ljust(pad) for r in rendered)
            if len(rows) <= max_rows:
                return tuple(rows), f"{font}x{scale}"
    return (text,), "plain"


class BigTitle(Widget):
    """The venue's name in letters that grow with the terminal (plain bold text at worst).

    The height budget is a share of the screen, so the how-to-ask lines and the question
    box always fit below it.
    """

    DEFAULT_CSS = "BigTitle { width: 100%; height: auto; }"

    def __init__(self, text: str, share: float = 0.55, **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = " ".join(text.split()) or " "
        self.share = share

    def _budget(self, viewport_height: int) -> int:
        return max(1, int(viewport_height * self.share))

    def layout_for(self, width: int, viewport_height: int) -> tuple[tuple[str, ...], str]:
        return title_rows(self.text, width, self._budget(viewport_height))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        rows, font = self.layout_for(width, viewport.height)
        if font == "plain":
            return max(1, -(-len(self.text) // max(1, width)))
        return len(rows)

    def render(self) -> Text:
        rows, font = self.layout_for(self.size.width, self.screen.size.height)
        if font == "plain":
            return Text(self.text, justify="center", style="bold")
        return Text("\n".join(rows), justify="center", no_wrap=True, overflow="crop")

    @property
    def font(self) -> str:
        return self.layout_for(self.size.width, self.screen.size.height)[1]


# --- waiting --------------------------------------------------------------------------------

# Three full-size dots with a bright one walking to and fro: visible from a step back,
# where a one-cell braille spinner is a speck.
SPINNER = (0, 1, 2, 1)
SPIN_S = 0.12
DOT_ON = "bold #ffffff"
DOT_OFF = "#4a6670"


class Waiting(Static):
    """An animated indicator and the state in words ("Looking that up").

    It starts in the same handler that takes the visitor's Enter, so it is on screen in
    the next frame, before the Assistant has done anything.
    """

    DEFAULT_CSS = "Waiting { height: auto; }"

    def __init__(self, words: str, running: bool = True, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.words = words
        self.frame = 0
        self.running = running
        self._timer = None
        self.shown_at: float | None = None
        """time.monotonic() when it started: the Enter-to-indicator figure is measured by it."""

    def on_mount(self) -> None:
        if self.running:
            self.start()
        else:
            self.display = False

    def start(self, words: str | None = None) -> None:
        if words is not None:
            self.words = words
        if not self.running or self.shown_at is None:
            self.shown_at = time.monotonic()
        self.running = True
        self.display = True
        self._draw()
        if self._timer is None:
            self._timer = self.set_interval(SPIN_S, self._tick)

    def _tick(self) -> None:
        self.frame = (self.frame + 1) % len(SPINNER)
        self._draw()

    def dots(self) -> Text:
        lit = SPINNER[self.frame]
        return Text.assemble(*[("●", DOT_ON if i == lit else DOT_OFF) for i in range(3)])

    def _draw(self) -> None:
        if self.running:
            self.update(Text.assemble(self.dots(), " ", self.words))
        else:
            self.update(Text(self.words))

    def say(self, words: str) -> None:
        self.words = words
        self._draw()

    def stop(self, words: str | None = None) -> None:
        self.running = False
        if words is not None:
            self.words = words
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.is_mounted:
            self._draw()


# --- the question box -------------------------------------------------------------------------


def question_input() -> Input:
    """No ``max_length``: a cut-off paste would lose the visitor's text silently; a long
    one is answered with the limit instead (see kiosk/wording.py)."""
    return Input(
        placeholder="Type your question here and press Enter",
        id="question",
        select_on_focus=False,
    )


class IdleWarning(Static):
    """ "Still there?" a few seconds before the reset wipes the screen."""

    DEFAULT_CSS = "IdleWarning { display: none; }"

    def show(self, seconds_left: float) -> None:
        secs = max(1, round(seconds_left))
        self.update(
            Text(
                f"Still there? Press any key to carry on.\n"
                f"Starting over in {secs} s, so the next visitor sees nothing of yours.",
                justify="center",
            )
        )
        self.display = True

    def hide(self) -> None:
        self.display = False


class StaffMarker(Static):
    """A discreet mark that staff have something to read (details in doctor/maintenance)."""

    DEFAULT_CSS = "StaffMarker { display: none; }"

    def set_count(self, count: int) -> None:
        self.update(Text(f"⚑ staff {count}" if count else ""))
        self.display = bool(count)
