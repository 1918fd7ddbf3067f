"""``python -m automix.train``: see :mod:`automix.train.cli`."""
import sys

from automix.train.cli import main

sys.exit(main())
