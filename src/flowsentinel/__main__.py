"""``python -m flowsentinel`` runs the command line."""

import sys

from flowsentinel.cli import main

sys.exit(main())
