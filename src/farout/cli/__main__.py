"""``python -m farout.cli``."""

import sys

from . import main

sys.exit(main())
