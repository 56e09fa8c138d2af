"""`python -m mixsearch` runs the command-line interface."""

from mixsearch.cli import main

main()
