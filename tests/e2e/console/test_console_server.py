"""The console server: static files, /config.js with each backend's URL, the CORS the services grant it."""

from __future__ import annotations

import httpx
import pytest

from playbooks_platform.console import ConsoleSettings, create_console_app, default_service_urls


async def test_serves_the_page_and_the_service_urls(tmp_path) -> None:
    settings = ConsoleSettings(service_urls={"runbook-runtime": "https://runs.example"})
    transport = httpx.ASGITransport(app=create_console_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        page = await client.get("/")
        assert page.status_code == 200 and '<script type="module" src="js/app.js">' in page.text
        config = await client.get("/config.js")
        assert config.headers["content-type"].startswith("text/javascript")
        assert '"runbook-runtime": "https://runs.example"' in config.text
        assert '"condition-engine": "http://127.0.0.1:8002"' in config.text
        assert (await client.get("/js/pages/runs.js")).status_code == 200
        assert (await client.get("/nope.js")).status_code == 404

    with pytest.raises(FileNotFoundError):
        create_console_app(ConsoleSettings(static_dir=tmp_path))
    assert default_service_urls()["exception-playbook"] == "http://127.0.0.1:8003"


def test_services_allow_the_console_origin(console) -> None:
    base = console.backend("runbook-runtime")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    ok = httpx.options(f"{base}/v1/runs", headers={"Origin": console.url, **preflight})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == console.url
    other = httpx.options(f"{base}/v1/runs", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in other.headers
