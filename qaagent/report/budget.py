"""Text within a byte budget: the parts of a summary, kept or counted while their UTF-8 sizes add up.

`Pieces` keeps rendered pieces while they fit the largest budget (and knows the size of any
run of them); `Budget` collects one rendering and gives up as soon as it is over its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


@dataclass
class Pieces:
    """Rendered pieces in order, kept while their sizes add up to at most `budget` bytes."""

    budget: int
    texts: list[str] = field(default_factory=list)
    #: `ends[i]`: the size of the first i pieces together (bytes)
    ends: list[int] = field(default_factory=lambda: [0])
    complete: bool = True  #: False once a piece did not fit (and none after it was kept)

    def add(self, text: str) -> bool:
        """Keep `text` if it fits; False (and nothing kept from now on) once the budget is passed."""
        if not self.complete:
            return False
        end = self.ends[-1] + utf8_size(text)
        if end > self.budget:
            self.complete = False
            return False
        self.texts.append(text)
        self.ends.append(end)
        return True

    def span(self, start: int, stop: int) -> int:
        """The size of pieces `start` to `stop` (kept ones) together."""
        return self.ends[stop] - self.ends[start]


class Budget:
    """Collects parts and stops counting once over the byte budget."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.parts: list[str] = []
        self.size = 0
        self.ok = True

    def add(self, text: str) -> None:
        """Add `text`, or (over the budget) stop: nothing more is kept."""
        if not self.ok:
            return
        self.size += len(text.encode("utf-8"))
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.ok = False
            return
        self.parts.append(text)

    def extend(self, texts: list[str], size: int) -> None:
        """Add `texts`, whose sizes add up to `size` bytes, all or (over the budget) none."""
        if not self.ok:
            return
        self.size += size
        if self.max_bytes is not None and self.size > self.max_bytes:
            self.ok = False
            return
        self.parts.extend(texts)

    def overflow(self) -> None:
        """What follows is known not to fit (it did not fit the largest budget)."""
        if self.max_bytes is not None:
            self.ok = False

    def text(self) -> str:
        """The parts kept, joined."""
        return "".join(self.parts)
