"""The responses of a miniature that can reach its optimal front: a finite set per prompt that
weakly dominates every response the language admits within the generation budget.

A policy writes any token sequence of at most ``max_tokens`` tokens; the exact scorers split it
into sentences and read each one as a known sentence or an unrecognised unit
(:mod:`mobench.data.miniature.segments`). Every sentence of both worlds tokenizes to one token per
word and no token spans two words (the Metaspace pre-tokenizer splits at spaces), so the fewest
tokens that spell a response are its token count under the task's tokenizer, the same count the
conciseness rule ``r(L)`` reads. ``length_of`` is that count; a candidate longer than
``max_tokens`` cannot be generated and is left out.

Each function below keeps only what no deletion can improve; the argument for why deleting the
rest never lowers any objective (every score rule is a sum of per-sentence effects, then clipped,
and clipping is monotone; ``r(L)`` never rises with length) is in its docstring. What remains is
enumerated completely: every score vector a response can reach is weakly dominated by a
candidate's, so the convex hull of the candidates' scores bounds every policy's expected scores.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

from mobench.data.miniature.chat_world import BUDGET, ChatWorld
from mobench.data.miniature.hh_world import REFUSALS, SAFETY_ADVICE, HHWorld
from mobench.data.optimal_front import ForeignPromptError

LengthOf = Callable[[str], int]
# Slot kind of a fact about another subject than the instruction's (kind "helpful" in the world).
OFF_SUBJECT_FACT = "off_subject_fact"


def hh_candidates(world: HHWorld, prompt: str, length_of: LengthOf,
                  max_tokens: int) -> list[str]:
    """Every response of distinct on-topic steps (any subset of the topic's four), optionally led
    by one refusal and one piece of safety advice (each of the world's), within ``max_tokens``.

    Why nothing else is needed (:meth:`HHWorld.score` reads the units order-free): deleting a
    rude sentence or an unrecognised unit raises helpful and harmless by 1 each; deleting an
    off-topic step raises helpful by 0.5 and harmless by 1 if its topic is harmful; deleting a
    filler, a repeated step or a second refusal or piece of advice changes neither (a repeated
    harmful step even raises harmless). Each deletion shortens the response, so conciseness never
    falls. The one refusal and one piece of advice kept are each tried in every wording, since
    their lengths differ.
    """
    topic = world.topic_of(prompt)
    if topic is None:
        raise ForeignPromptError(f"{prompt!r} asks about none of the hh miniature's topics")
    candidates = []
    for refusal in (None, *REFUSALS):
        for advice in (None, *SAFETY_ADVICE):
            for n_steps in range(len(topic.steps) + 1):
                for steps in itertools.combinations(topic.steps, n_steps):
                    parts = [p for p in (refusal, advice) if p is not None] + list(steps)
                    text = " ".join(parts)
                    if length_of(text) <= max_tokens:
                        candidates.append(text)
    return candidates


def chat_candidates(world: ChatWorld, prompt: str, length_of: LengthOf,
                    max_tokens: int) -> list[str]:
    """Every response of at most :data:`~mobench.data.miniature.chat_world.BUDGET` distinct known
    sentences, given as counts per sentence kind, each kind's count filled with its shortest
    sentences, within ``max_tokens``.

    Why nothing else is needed (:meth:`ChatWorld.style_score` reads the first three units as a
    set, charges 1 per unrecognised unit anywhere, and ``r(L)`` falls with length): any response
    is weakly dominated by the distinct recognised sentences among its first three units alone.
    That deletion removes every unrecognised unit, every unread sentence (which only added
    length) and every repeat (a repeat adds nothing to its own style and can only cost others),
    and the sentences read stay the same. Sentences of one kind score alike on every style (a
    joke about another subject is still a joke; only facts depend on the subject: a fact about
    the instruction's subject, one about another subject and a false fact are three kinds), so
    within a kind only the count matters and the shortest sentences are best for conciseness.
    Every kind is enumerated, also those a task does not score, so no argument about a task's
    styles is needed.
    """
    subject = world.subject_of(prompt)
    if subject is None:
        raise ForeignPromptError(f"{prompt!r} names none of the chat miniature's subjects")
    by_kind: dict[str, list[str]] = {}
    for text, segment in world.inventory.by_text.items():
        kind = segment.kind
        if kind == "helpful" and segment.topic != subject:
            kind = OFF_SUBJECT_FACT
        by_kind.setdefault(kind, []).append(text)
    shortest = {kind: sorted(texts, key=lambda t: (length_of(t), t))[:BUDGET]
                for kind, texts in by_kind.items()}
    candidates = []
    for size in range(BUDGET + 1):
        for kinds in itertools.combinations_with_replacement(sorted(shortest), size):
            counts = {kind: kinds.count(kind) for kind in dict.fromkeys(kinds)}
            if any(count > len(shortest[kind]) for kind, count in counts.items()):
                continue
            text = " ".join(s for kind, count in counts.items() for s in shortest[kind][:count])
            if length_of(text) <= max_tokens:
                candidates.append(text)
    return candidates
