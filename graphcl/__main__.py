"""``python -m graphcl ...``: the same command line as the ``graphcl`` script."""
import sys

from graphcl.cli import main

sys.exit(main())
