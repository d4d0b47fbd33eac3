"""The shared HTTP path: what every service's stack (create_app) adds to a small authenticated request.

One GET with a bearer token, through httpx's in-process ASGI transport, on an app with 40 other routes
(a service's size), answered by the route alone; next to the baseline of the same run, a bare FastAPI
app with the same routes and no middleware. Measured with no tracer configured (a service without
an OTLP endpoint) and then with one (spans made and dropped). Per request, median of BENCH_ROUNDS.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
import types

import httpx
from fastapi import APIRouter, FastAPI
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from playbooks_platform.auth import CurrentPrincipal, TokenVerifier, issue_token
from playbooks_platform.figures import Figures
from playbooks_platform.service import ServiceSpec, create_app
from playbooks_platform.settings import PlatformSettings
from playbooks_platform.telemetry import setup_tracing

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def routes() -> APIRouter:
    router = APIRouter()
    for i in range(40):  # matched (and missed) before the measured route, as in a service

        @router.get(f"/api/other{i}/{{item_id}}")
        async def other(item_id: str) -> dict[str, str]:
            return {"id": item_id}

    @router.get("/api/things/{thing_id}")
    async def thing(thing_id: str, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": thing_id, "org": principal.org_id}

    return router


class Dropped(SpanExporter):
    def export(self, spans: object) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def per_request_us(app: FastAPI, token: str) -> float:
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        for _ in range(200):
            r = await client.get("/api/things/t-1", headers=headers)
        assert r.status_code == 200, r.text
        start = time.perf_counter()
        for _ in range(REQUESTS):
            await client.get("/api/things/t-1", headers=headers)
        return (time.perf_counter() - start) / REQUESTS * 1e6


async def measure(bare: FastAPI, full: FastAPI, token: str) -> tuple[float, float]:
    pairs = [(await per_request_us(bare, token), await per_request_us(full, token)) for _ in range(ROUNDS)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


async def main() -> None:
    settings = PlatformSettings(service_name="bench-http")
    token = issue_token(settings, org_id="org-bench", roles=["viewer"])
    router = routes()
    full = create_app(ServiceSpec(name="bench-http", package="bench", settings_cls=PlatformSettings, routers=[router]))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # create_app set up logging: not the client's lines
    bare = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    bare.include_router(router)
    # no lifespan (nothing here needs the broker): the one part of the runtime these routes read
    full.state.runtime = bare.state.runtime = types.SimpleNamespace(verifier=TokenVerifier(settings))
    figures = Figures()
    print(f"one authenticated GET among 41 routes, in-process ASGI client, {REQUESTS} requests, median of {ROUNDS}")
    for label, key in (("no tracer configured", "untraced"), ("tracer configured", "traced")):
        if key == "traced":
            setup_tracing("bench-http", processors=[SimpleSpanProcessor(Dropped())])
        b, f = await measure(bare, full, token)
        print(f"  {label:<22} bare FastAPI (baseline) {b:6.0f} us   platform stack {f:6.0f} us   adds {f - b:5.0f} us")
        figures.update({f"http.{key}.bare_us": b, f"http.{key}.stack_us": f, f"http.{key}.added_us": f - b})
    figures.write()


if __name__ == "__main__":
    asyncio.run(main())
