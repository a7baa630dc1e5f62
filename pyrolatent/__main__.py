"""``python -m pyrolatent``: the command line."""

import sys

from pyrolatent.cli import main

sys.exit(main())
