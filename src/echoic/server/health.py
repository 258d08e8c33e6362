"""Operations endpoints: ``/health`` (the process is up), ``/ready`` (models loaded and
self-tested), ``/metrics`` (Prometheus). None needs an API key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from echoic.server.metrics import CONTENT_TYPE
from echoic.server.schemas import Health, Ready
from echoic.server.state import state_of

router = APIRouter(tags=["operations"])


@router.get("/health", summary="The process is up", response_model=Health)
async def health() -> Health:
    return Health()


@router.get(
    "/ready",
    summary="Models loaded and self-tested",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "Not ready (yet): see error."}},
)
async def ready(request: Request) -> JSONResponse:
    readiness = state_of(request).readiness
    return JSONResponse(readiness.to_dict(), status_code=200 if readiness.ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE)
