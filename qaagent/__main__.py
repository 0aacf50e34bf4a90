"""`python -m qaagent` runs the command-line interface."""

import sys

from qaagent.cli import main

if __name__ == "__main__":
    sys.exit(main())
