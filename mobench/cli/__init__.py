"""The ``mobench`` command line (the top layer): :mod:`~mobench.cli.main` parses the arguments and
holds run, list, generate, eval and export; :mod:`~mobench.cli.leaderboard` adds sweep, report and
check; :mod:`~mobench.cli.arguments` holds the argparse helpers both use."""

from mobench.cli.main import main

__all__ = ["main"]
