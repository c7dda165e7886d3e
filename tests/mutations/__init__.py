"""The mutation suite: deliberate bugs (mutants.py) that the CI checks must catch (run.py)."""
