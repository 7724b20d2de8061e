"""`python -m tollhouse …`: the `tollhouse` command."""

import sys

from tollhouse.cli import main

sys.exit(main())
