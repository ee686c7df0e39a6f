"""`python -m flows.cli ...`: the same as `newsflow ...`."""

from flows.cli import main

main()
