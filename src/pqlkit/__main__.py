"""``python -m pqlkit``: the command line, as the ``pqlkit`` script runs it."""

from pqlkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
