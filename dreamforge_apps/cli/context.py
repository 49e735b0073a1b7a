"""What every command shares through click's context: the settings, read once."""

from __future__ import annotations

import logging

import click

from dreamforge_apps.settings import Settings

#: Libraries whose routine lines would bury a one-shot command's own output and its one-line
#: failure (request lines, the pool's reconnect attempts); the services keep them.
_QUIET_IN_COMMANDS = {"httpx": logging.WARNING, "psycopg.pool": logging.ERROR}


class CliContext:
    """The context object of the `dreamforge` group: settings made on first use, with logging
    configured for a service (everything) or a one-shot command (quiet libraries)."""

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def settings(self, *, service: bool = False) -> Settings:
        if self._settings is None:
            from dreamforge_apps.logging_setup import configure_logging

            self._settings = Settings()
            configure_logging(self._settings.log_level, self._settings.log_format)
            if not service:
                for name, level in _QUIET_IN_COMMANDS.items():
                    logging.getLogger(name).setLevel(level)
        return self._settings


def cli_settings(*, service: bool = False) -> Settings:
    """The settings of the running command, from its click context."""
    return click.get_current_context().ensure_object(CliContext).settings(service=service)
