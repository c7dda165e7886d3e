"""Data and scoring: data sources (:mod:`~mobench.data.sources`, :mod:`~mobench.data.data_report`),
models and reward models (:mod:`~mobench.data.models`, :mod:`~mobench.data.reward_models`,
:mod:`~mobench.data.score_models`), the tiny tasks' optimal front
(:mod:`~mobench.data.optimal_front`), the synthetic miniature worlds
(:mod:`mobench.data.miniature`), building the tiny tasks' assets (:mod:`mobench.data.assets`) and
the paper-scale machinery (:mod:`mobench.data.paper`). It stands above the engine and adapters."""
