"""`python -m tollhouse.cli …`: the `tollhouse` command, for `tollhouse dev`'s children."""

import sys

from tollhouse.cli import main

sys.exit(main())
