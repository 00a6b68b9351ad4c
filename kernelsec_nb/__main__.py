"""``python -m kernelsec_nb`` is the ``kernelsec-nb`` command."""

import sys

from kernelsec_nb.cli import main

sys.exit(main())
