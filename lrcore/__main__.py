"""``python -m lrcore`` is the ``lrcore`` command."""

import sys

from lrcore.cli import main

sys.exit(main())
