"""`/v1/models` routes."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import State

from dreamforge_adapters.http.blocking import call
from dreamforge_adapters.http.jobs import services
from dreamforge_adapters.http.openapi import documented, responses
from dreamforge_adapters.http.openapi_schemas import MODEL, MODELS
from dreamforge_core.errors import FieldError, InvalidInput

_BOOLS = {"true": True, "1": True, "false": False, "0": False}


@get(
    "/v1/models",
    operation_class=documented(MODELS),
    responses=responses(200, 422),
    summary="Registered models",
    tags=["models"],
)
async def list_models(state: State, include_disabled: str | None = None) -> dict[str, Any]:
    flag = False
    if include_disabled is not None:
        if include_disabled.lower() not in _BOOLS:
            raise InvalidInput.for_fields([FieldError("include_disabled", "must be true or false")])
        flag = _BOOLS[include_disabled.lower()]
    models = await call(state, services(state).models.list, flag)
    return {"items": [m.summary() for m in models]}


@get(
    "/v1/models/{model_id:str}",
    operation_class=documented(MODEL),
    responses=responses(200, 404),
    summary="Model descriptor",
    tags=["models"],
)
async def get_model(model_id: str, state: State) -> dict[str, Any]:
    return (await call(state, services(state).models.get, model_id)).to_dict()
