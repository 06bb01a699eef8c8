"""Command line: the composition root (the only place that picks real adapters)."""

import sys


def main(argv: list[str] | None = None) -> int:
    del argv
    print("pykeepalived: not implemented yet", file=sys.stderr)
    return 2
