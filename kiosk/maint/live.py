"""The running parts maintenance may change at once, whichever face asks (screen or web).

The voice loop and the way to restart belong to the face that started them (the Textual
app); the web face only has the Assistant. Both find them here, keyed by that Assistant
(like ``gate.gate_for``), so a volume or wake phrase saved from a phone reaches the
same microphone chain as one saved at the screen. A part not registered (``kiosk
serve`` has no voice and no restart) is simply absent, and the faces say so.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class LiveParts:
    voice: Any = None
    """The running ``VoiceLoop`` (None: no microphone chain in this process)."""
    restart: Callable[[], None] | None = None
    """Ends this process so the kiosk starts again with the saved settings (None: not offered)."""


_PARTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def parts_for(assistant: Any) -> LiveParts:
    parts = _PARTS.get(assistant)
    if parts is None:
        parts = LiveParts()
        _PARTS[assistant] = parts
    return parts
