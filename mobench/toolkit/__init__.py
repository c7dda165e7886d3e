"""The parts methods are composed of: policies over a frozen base (:mod:`~mobench.toolkit.policies`,
:mod:`~mobench.toolkit.conditioned_policy`), experts (:mod:`~mobench.toolkit.experts`), serving a
grid (:mod:`~mobench.toolkit.serving`), mixed decoding (:mod:`~mobench.toolkit.decoding`), rewards
of pairs and responses (:mod:`~mobench.toolkit.pair_rewards`,
:mod:`~mobench.toolkit.scored_responses`), reward-conditioned prompts and targets
(:mod:`~mobench.toolkit.reward_prompts`, :mod:`~mobench.toolkit.reward_targets`) and preference
grids (:mod:`~mobench.toolkit.grids`). It stands below methods and tasks, above the data layer."""
