"""Building a tiny task's assets once per (task, seed) and reading them back from the cache.

The pipeline a user would recognise, at miniature size:

- :mod:`mobench.data.assets.tokenizer`: a BPE tokenizer trained locally on the miniature's text.
- :mod:`mobench.data.assets.sft`: the reference policy, a stock GPT-2 causal LM, SFT-trained on the
  miniature's mixed-quality corpus (loss on the response only), saved with ``save_pretrained``.
- :mod:`mobench.data.assets.reward_model`: one reward model per learned objective, a
  ``GPT2ForSequenceClassification`` (one label) initialised from the reference policy and trained
  with the Bradley-Terry loss on that objective's pairs; checked against held-out ground truth
  and calibrated into the exact scorer's units.
- :mod:`mobench.data.assets.cache`: the cache layout, a version tag, and an atomic completion
  marker, so a killed build is redone rather than half-used.
- :mod:`mobench.data.assets.determinism`: seeding, so the same seed gives the same weights.

Everything is written with ``save_pretrained`` (safetensors) and read back with
``from_pretrained(..., trust_remote_code=False)``: no pickles. This package is harness machinery:
it never imports :mod:`mobench.tasks`.
"""
