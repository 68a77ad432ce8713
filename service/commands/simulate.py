"""CLI commands for this area (filled in by the issue that builds it)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `faultline` app."""
