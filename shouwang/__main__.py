"""`python -m shouwang`: the same as the `shouwang` console script."""

import sys

from shouwang.cli import main

sys.exit(main())
