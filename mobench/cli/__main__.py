"""``python -m mobench.cli``: the ``mobench`` command."""

import sys

from mobench.cli.main import main

sys.exit(main())
