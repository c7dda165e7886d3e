"""Synthetic miniature worlds for the self-contained tiny scale.

A miniature is a small language of prompts and responses whose qualities are known exactly:
responses are sequences of sentences drawn from known inventories (a recipe step, a refusal, a
joke...), so an exact scorer can segment any generated text into recognised units and score it
against the ground truth, and unrecognised text is counted as malformed.

Modules, one job each:

- :mod:`mobench.data.miniature.segments`: split a response into sentences and recognise each one.
- :mod:`mobench.data.miniature.labels`: Bradley-Terry label noise, as human preference labels have.
- :mod:`mobench.data.miniature.conciseness`: the HHC conciseness reward ``r(L)``.
- :mod:`mobench.data.miniature.pku`: rows in the PKU-SafeRLHF schema and their per-objective pairs.
- :mod:`mobench.data.miniature.splits`: seeded, disjoint eval / validation / train prompt splits.
- :mod:`mobench.data.miniature.hh_world`: the helpful/harmless world (tasks ``hh`` and ``hhc``).
- :mod:`mobench.data.miniature.chat_world`: the ten-style chat world (tasks ``chat3`` ...
  ``chat10``).

This package is harness machinery: it never imports :mod:`mobench.tasks`.
"""
