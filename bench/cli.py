"""`--help` for the benchmarks configured by environment variables only."""

from __future__ import annotations

import argparse


def help_only(doc: str | None, example: str, argv: list[str] | None = None) -> None:
    """Print the module's docstring and an example on --help (and exit); accept no arguments."""
    parser = argparse.ArgumentParser(
        description=doc,
        epilog=f"Example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
