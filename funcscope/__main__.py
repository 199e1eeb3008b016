"""`python -m funcscope`: the same as the `funcscope` command."""

import sys

from .cli import main

sys.exit(main())
