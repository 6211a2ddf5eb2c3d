"""``python -m pcr_sklearn``: the ``pcr-sklearn`` command."""

import sys

from ._cli import main

sys.exit(main())
