"""`python -m ingestctl`."""

import sys

from ingestctl.cli import main

sys.exit(main())
