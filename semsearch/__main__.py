"""`python -m semsearch` runs the CLI."""

from semsearch.cli import main

main()
