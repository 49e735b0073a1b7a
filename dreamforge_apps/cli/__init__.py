"""The `dreamforge` command line: the services, the admin commands and the benchmarks."""

from dreamforge_apps.cli.main import main

__all__ = ["main"]
