"""`/v1/models` routes."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State

from dreamforge_adapters.http import presenters
from dreamforge_adapters.http.blocking import call
from dreamforge_adapters.http.jobs import services
from dreamforge_adapters.http.openapi import documented
from dreamforge_adapters.http.shapes import ModelDescriptor, ModelList


@get(
    "/v1/models",
    **documented(200, 422, ok=ModelList, summary="Registered models", tag="models"),
)
async def list_models(state: State, include_disabled: bool = False) -> ModelList:
    models = await call(state, services(state).models.list, include_disabled)
    return ModelList(items=[presenters.model_summary(m) for m in models])


@get(
    "/v1/models/{model_id:str}",
    **documented(200, 404, ok=ModelDescriptor, summary="Model descriptor", tag="models"),
)
async def get_model(model_id: str, state: State) -> ModelDescriptor:
    return presenters.model_descriptor(await call(state, services(state).models.get, model_id))
