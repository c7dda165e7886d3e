"""Splitting a miniature response into sentences and recognising each one.

Every sentence of a miniature ends with a terminator token (``.``, ``?`` or ``!``) written as its
own word. A response is split after each terminator; each piece is looked up, whitespace
normalised, in an inventory of known sentences. A piece that is not in the inventory (a garbled
sentence, a sentence cut off by the generation budget) is an unrecognised unit: the response is then
malformed, and scorers charge a penalty per unrecognised unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

TERMINATORS = ".?!"
_PIECES = re.compile(r"[^.?!]*[.?!]|[^.?!]+$")


@dataclass(frozen=True)
class Segment:
    """A known sentence of a miniature.

    Attributes:
        kind: the sentence's type (``step``, ``refusal``, ``fact``, a style name...).
        text: the sentence itself, whitespace normalised; distinct texts are distinct segments.
        topic: the prompt topic or subject the sentence is about (empty when it is about none).
    """

    kind: str
    text: str
    topic: str = ""


@dataclass(frozen=True)
class ParsedResponse:
    """A response as a sequence of units: a recognised :class:`Segment`, or ``None`` for text
    that matched no known sentence.

    Attributes:
        units: the units in order.
    """

    units: tuple[Segment | None, ...]

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(u for u in self.units if u is not None)

    @property
    def n_malformed(self) -> int:
        return sum(u is None for u in self.units)

    @property
    def well_formed(self) -> bool:
        """At least one unit, and every unit recognised."""
        return bool(self.units) and self.n_malformed == 0


def normalize(text: str) -> str:
    """Collapse runs of whitespace, the form inventories are keyed by."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Pieces of ``text`` ending at each terminator; trailing text without one is its own piece."""
    return [normalize(p) for p in _PIECES.findall(text) if normalize(p)]


class SegmentInventory:
    """All known sentences of a miniature, keyed by their normalised text."""

    def __init__(self, segments: list[Segment]) -> None:
        self._by_text: dict[str, Segment] = {}
        for segment in segments:
            key = normalize(segment.text)
            if key in self._by_text and self._by_text[key] != segment:
                raise ValueError(f"sentence {key!r} is defined twice with different meanings")
            if key[-1] not in TERMINATORS or any(t in key[:-1] for t in TERMINATORS):
                raise ValueError(f"sentence {key!r} must end with, and only with, a terminator")
            self._by_text[key] = segment

    @property
    def by_text(self) -> Mapping[str, Segment]:
        return self._by_text

    def parse(self, text: str) -> ParsedResponse:
        return ParsedResponse(tuple(self._by_text.get(p) for p in split_sentences(text)))
