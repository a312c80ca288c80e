import sys

from sqlguard.cli import main

sys.exit(main())
