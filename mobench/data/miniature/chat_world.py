"""The chat miniature: instructions about a subject, answered in a mix of ten styles.

**Instructions.** ``"{template} the {subject} {suffix}"`` ("tell me about the owl please") over 24
subjects in 6 categories (animals, sky, food, instruments, places, tools), 6 templates and 5
suffixes: 720 distinct instructions.

**Styles** (:data:`STYLES`, in task order: ``chatN`` uses the first N):

==============  ==========================================================================
helpful         facts about the subject ("the owl can sense danger ."): distinct true facts
                about the instruction's subject count; a fact about another subject costs
                0.5, a false one (a predicate of another category: "the owl needs regular
                tuning .") costs 1
humorous        jokes ("the owl slipped on a banana peel !")
philosophical   musings ("to know the owl is to know oneself .")
concise         the conciseness rule ``r(L)`` on the length in tokens (no sentences of its own)
formal          formal register ("one must weigh the evidence with care .")
empathetic      acknowledging feelings ("that must be hard for you .")
enthusiastic    excitement ("wow , this is amazing !")
cautious        hedges ("i may be wrong about this .")
poetic          imagery ("soft as rain , the owl sleeps .")
inquisitive     questions back ("have you ever seen a owl ?")
==============  ==========================================================================

**Ground truth** (:meth:`ChatWorld.style_score`) for a sentence style ``s``: only the first
:data:`BUDGET` (three) units of a response are read (the reader's attention, a length budget); the
score is the number of distinct ``s`` sentences among them, minus 0.5 per sentence of a style
opposed to ``s`` (:data:`OPPOSED`: humorous–formal, humorous–philosophical, enthusiastic–cautious,
poetic–formal), minus 1 per unrecognised unit anywhere; clipped to [−2, 3]. ``concise`` is ``r(L)``
with the task's ``c`` and ``r_max``. So styles compete three ways: for the three read slots,
through opposed pairs, and against length. No response tops every style.

The reference corpus mixes styles: each response draws style weights from a Dirichlet, then one to
three sentences from them; one fact in twenty is about another subject and one in twenty is false
(hallucinated), so the reference policy is mixed in quality on helpfulness too. A false fact is a
well-formed sentence of the language: it parses, and costs helpfulness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mobench.data.miniature.segments import ParsedResponse, Segment, SegmentInventory

STYLES: tuple[str, ...] = ("helpful", "humorous", "philosophical", "concise", "formal",
                           "empathetic", "enthusiastic", "cautious", "poetic", "inquisitive")
STYLE_DESCRIPTIONS: dict[str, str] = {
    "helpful": "distinct facts about the instruction's subject",
    "humorous": "jokes",
    "philosophical": "philosophical musings",
    "concise": "conciseness reward r(L) of the length in tokens",
    "formal": "formal register",
    "empathetic": "acknowledging the user's feelings",
    "enthusiastic": "excitement",
    "cautious": "hedges and caveats",
    "poetic": "imagery",
    "inquisitive": "questions back to the user",
}

CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # category: (subjects, fact predicates)
    "animal": (("owl", "fox", "whale", "horse"),
               ("is a living animal", "needs food and water", "raises its young",
                "can sense danger")),
    "sky": (("moon", "mars", "comet", "star"),
            ("moves through space", "is very far away", "can be seen at night",
             "is made of rock or gas")),
    "food": (("bread", "apple", "cheese", "rice"),
             ("can be eaten", "gives the body energy", "is sold in markets",
              "tastes best when fresh")),
    "instrument": (("piano", "drum", "violin", "flute"),
                   ("makes music", "takes years to master", "is played in concerts",
                    "needs regular tuning")),
    "place": (("city", "forest", "desert", "island"),
              ("is a place on earth", "has its own weather", "is home to many creatures",
               "changes with the seasons")),
    "tool": (("hammer", "ladder", "compass", "clock"),
             ("is made by people", "helps with daily work", "should be kept in good shape",
              "has a simple design")),
}

# Sentence templates of each sentence style; "{s}" is the subject.
STYLE_SENTENCES: dict[str, tuple[str, ...]] = {
    "humorous": ("ha ha , the {s} is a clown !", "the {s} tells the best jokes !",
                 "the {s} slipped on a banana peel !", "even the {s} laughs at itself !"),
    "philosophical": ("what is the {s} , truly ?", "all things change , even the {s} .",
                      "to know the {s} is to know oneself .", "perhaps the {s} is only an idea ."),
    "formal": ("in summary , the facts are as follows .", "it is hereby noted for the record .",
               "one must weigh the evidence with care .",
               "kind regards and thank you for your inquiry ."),
    "empathetic": ("i understand how you feel .", "that must be hard for you .",
                   "you are not alone in this .", "your feelings truly matter ."),
    "enthusiastic": ("wow , this is amazing !", "i absolutely love the {s} !",
                     "how exciting is that !", "what a fantastic question !"),
    "cautious": ("please check other sources too .", "i may be wrong about this .",
                 "be careful with strong claims .", "results may vary ."),
    "poetic": ("the {s} sings like the sea .", "soft as rain , the {s} sleeps .",
               "under silver skies we dream .", "the {s} dances in the light ."),
    "inquisitive": ("what do you think about the {s} ?", "have you ever seen a {s} ?",
                    "why do you ask about this ?", "what else would you like to know ?"),
}
OPPOSED: tuple[tuple[str, str], ...] = (("humorous", "formal"), ("humorous", "philosophical"),
                                        ("enthusiastic", "cautious"), ("poetic", "formal"))
TEMPLATES = ("tell me about the {s}", "describe the {s}", "what can you say about the {s}",
             "talk about the {s}", "write something about the {s}", "explain the {s} to me")
SUFFIXES = ("", "please", "in a few words", "for my class", "today")

BUDGET = 3
STYLE_BOUNDS = (-2.0, 3.0)
OPPOSED_PENALTY = 0.5
OFF_SUBJECT_PENALTY = 0.5
FALSE_FACT_PENALTY = 1.0
# Share of facts in the reference corpus about another subject, and share that are false.
OFF_SUBJECT_SHARE = 0.05
FALSE_FACT_SHARE = 0.05
SENTENCE_STYLES: tuple[str, ...] = tuple(s for s in STYLES if s != "concise")


@dataclass(frozen=True)
class ChatPrompt:
    """An instruction of the pool.

    Attributes:
        text: the instruction.
        subject: the subject it asks about.
    """

    text: str
    subject: str


def _subjects() -> dict[str, str]:
    return {s: category for category, (subjects, _) in CATEGORIES.items() for s in subjects}


def _opposition() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {s: set() for s in STYLES}
    for a, b in OPPOSED:
        table[a].add(b)
        table[b].add(a)
    return {s: frozenset(v) for s, v in table.items()}


class ChatWorld:
    """The fixed language of the chat miniature: instructions, styled sentences, ground truth."""

    def __init__(self) -> None:
        self.category_of = _subjects()
        self.opposed = _opposition()
        segments = []
        for subject, category in self.category_of.items():
            segments += [Segment("helpful", f"the {subject} {p} .", subject)
                         for p in CATEGORIES[category][1]]
            segments += [Segment("false_fact", f"the {subject} {p} .", subject)
                         for other, (_, predicates) in CATEGORIES.items() if other != category
                         for p in predicates]
            for style, templates in STYLE_SENTENCES.items():
                # A template without "{s}" is one sentence shared by every subject.
                segments += [Segment(style, t.replace("{s}", subject),
                                     subject if "{s}" in t else "") for t in templates]
        self.inventory = SegmentInventory(list(dict.fromkeys(segments)))
        self.prompts = tuple(
            ChatPrompt(" ".join(t.replace("{s}", subject).split() + ([x] if x else [])), subject)
            for subject in self.category_of for t in TEMPLATES for x in SUFFIXES)

    def subject_of(self, prompt: str) -> str | None:
        """The subject an instruction asks about; ``None`` for a foreign prompt."""
        for word in prompt.split():
            if word in self.category_of:
                return word
        return None

    def parse(self, response: str) -> ParsedResponse:
        return self.inventory.parse(response)

    def style_score(self, style: str, prompt: str, response: str) -> float:
        """Ground truth of a sentence style (every style but ``concise``); see the docstring."""
        if style not in SENTENCE_STYLES:
            raise ValueError(f"{style!r} is not a sentence style; choose from {SENTENCE_STYLES}")
        parsed = self.parse(response)
        read = [u for u in parsed.units[:BUDGET] if u is not None]
        subject = self.subject_of(prompt)
        own: set[str] = set()
        score = 0.0
        for segment in read:
            if segment.kind == style:
                if style == "helpful" and segment.topic != subject:
                    score -= OFF_SUBJECT_PENALTY
                else:
                    own.add(segment.text)
            elif segment.kind == "false_fact" and style == "helpful":
                score -= FALSE_FACT_PENALTY
            elif segment.kind in self.opposed[style]:
                score -= OPPOSED_PENALTY
        score += len(own) - parsed.n_malformed
        return float(np.clip(score, *STYLE_BOUNDS))

    def sample_response(self, subject: str, rng: np.random.Generator,
                        focus: str | None = None) -> str:
        """A mixed-style response about ``subject``.

        Style weights are drawn from Dirichlet(0.5); with ``focus`` that style's parameter is 2,
        so pairs labelled on a style are seldom tied at zero. One to :data:`BUDGET` sentences, each
        of a style drawn from the weights, repeats avoided; of the facts, a share
        :data:`OFF_SUBJECT_SHARE` is about another subject and :data:`FALSE_FACT_SHARE` is false.
        """
        alpha = np.full(len(SENTENCE_STYLES), 0.5)
        if focus is not None and focus in SENTENCE_STYLES:
            alpha[SENTENCE_STYLES.index(focus)] = 2.0
        weights = rng.dirichlet(alpha)
        n = int(rng.integers(1, BUDGET + 1))
        parts: list[str] = []
        for _ in range(n):
            style = SENTENCE_STYLES[int(rng.choice(len(SENTENCE_STYLES), p=weights))]
            about, false = subject, False
            if style == "helpful":
                draw = rng.random()
                if draw < OFF_SUBJECT_SHARE:
                    about = str(rng.choice(sorted(self.category_of)))
                false = OFF_SUBJECT_SHARE <= draw < OFF_SUBJECT_SHARE + FALSE_FACT_SHARE
            sentence = (self._false_fact(subject, rng) if false
                        else self.sentence(style, about, rng, avoid=parts))
            if sentence is not None:
                parts.append(sentence)
        return " ".join(parts)

    def pure_response(self, style: str, subject: str, rng: np.random.Generator) -> str:
        """A response written in one style only: two or three of its sentences (``concise``:
        one fact)."""
        if style == "concise":
            return self.sentence("helpful", subject, rng, avoid=[]) or ""
        parts: list[str] = []
        for _ in range(int(rng.integers(2, BUDGET + 1))):
            sentence = self.sentence(style, subject, rng, avoid=parts)
            if sentence is not None:
                parts.append(sentence)
        return " ".join(parts)

    def _false_fact(self, subject: str, rng: np.random.Generator) -> str:
        others = [p for category, (_, predicates) in CATEGORIES.items()
                  if category != self.category_of[subject] for p in predicates]
        return f"the {subject} {others[rng.integers(len(others))]} ."

    def sentence(self, style: str, subject: str, rng: np.random.Generator,
                 avoid: list[str]) -> str | None:
        """One true sentence of ``style`` (a sentence style) about ``subject``, not in ``avoid``;
        None when every option is taken."""
        if style == "helpful":
            options = [f"the {subject} {p} ." for p in CATEGORIES[self.category_of[subject]][1]]
        else:
            options = [t.replace("{s}", subject) for t in STYLE_SENTENCES[style]]
        options = [o for o in options if o not in avoid]
        return str(options[rng.integers(len(options))]) if options else None

    def vocabulary_texts(self) -> list[str]:
        """Every instruction and every known sentence."""
        return [p.text for p in self.prompts] + list(self.inventory.by_text)

    def scorer_for(self, style: str,
                   concise: Callable[[str], float] | None = None) -> Callable[[str, str], float]:
        """``score(prompt, response)`` for ``style``; ``concise`` maps a response to ``r(L)``."""
        if style == "concise":
            if concise is None:
                raise ValueError("the concise style needs the task's length rule")
            return lambda prompt, response: float(concise(response))
        return lambda prompt, response: self.style_score(style, prompt, response)
