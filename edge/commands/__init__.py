"""The work behind each `vigil` command; edge/cli.py parses the command line and dispatches here."""
