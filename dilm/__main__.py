import sys

from dilm.cli import main

sys.exit(main())
