"""`dreamforge api`: the HTTP API of the stack. Stateless: run as many replicas as needed."""

from __future__ import annotations

import logging

import uvicorn

from dreamforge_apps.bootstrap.lifecycle import start, stop
from dreamforge_apps.bootstrap.stack import StackApi, freeze_start_up_objects
from dreamforge_apps.http_server import check_bind, served_hosts, uvicorn_config
from dreamforge_apps.settings import Settings

log = logging.getLogger(__name__)


def serve_api(settings: Settings, host: str, port: int) -> None:
    check_bind(host, settings)
    api = StackApi(settings=settings, hosts=served_hosts(host, settings))
    start(api)
    try:
        app = api.http.app()
        freeze_start_up_objects()
        log.info("Dream Forge API listening on http://%s:%d (stack)", host, port)
        uvicorn.Server(uvicorn_config(app, host, port, settings)).run()
    finally:
        stop(api)
