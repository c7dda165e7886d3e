"""Leaderboards built from run folders alone: collect runs, aggregate seeds with intervals over
seeds and prompts, rank, and write CSV, Markdown and one self-contained HTML page; and regression
checks of runs against committed reference metrics.

- :mod:`~mobench.leaderboard.collect`: finding run folders and reading their per-prompt scores.
- :mod:`~mobench.leaderboard.aggregate`: one row per (method, variant, scale) and task.
- :mod:`~mobench.leaderboard.table`: deterministic CSV and Markdown.
- :mod:`~mobench.leaderboard.figures`: fronts, cost and reward-model-against-truth plots.
- :mod:`~mobench.leaderboard.page`: the HTML page.
- :mod:`~mobench.leaderboard.check`: ``mobench check``.
"""
