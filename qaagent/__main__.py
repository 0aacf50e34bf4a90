"""`python -m qaagent` runs the command-line interface."""

import sys

from qaagent.cli import run

if __name__ == "__main__":
    sys.exit(run())
