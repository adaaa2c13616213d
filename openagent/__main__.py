"""``python -m openagent``."""

import sys

from openagent.cli import main

sys.exit(main())
