"""Secrets an attacker would try: the public dev secrets off loopback, short secrets, secrets in the
environment, and signed artifact URLs replayed, moved to another org, forged, expired or signed
with a key the service does not hold.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import yaml

from playbooks_dev.embedded import free_port
from playbooks_dev.testing import Infra, running_service
from playbooks_platform.service import installed_services, load_spec
from playbooks_platform.settings import PlatformSettings
from recommendation_agent import signing
from recommendation_agent.settings import DEV_SIGNING_SECRET, RecommendationSettings

REPO = Path(__file__).resolve().parents[2]
REAL = "r" * 40
OLD = "o" * 40


def _serve(service: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``playbooks serve`` in a process of its own, with only the given PLAYBOOKS_* variables."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOKS_")} | env
    command = [sys.executable, "-m", "playbooks_platform.cli", "serve", service, "--port", str(free_port()), *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)


def test_a_service_on_all_interfaces_refuses_the_dev_jwt_secret() -> None:
    done = _serve("trigger-ingest", "--host", "0.0.0.0")
    assert done.returncode == 2, done.stderr
    assert "PLAYBOOKS_JWT_SECRET is the public dev placeholder" in done.stderr
    assert "0.0.0.0" in done.stderr
    # The same through the setting instead of the flag.
    done = _serve("trigger-ingest", PLAYBOOKS_LISTEN_HOST="::")
    assert done.returncode == 2 and "PLAYBOOKS_JWT_SECRET" in done.stderr


def test_recommendation_agent_on_all_interfaces_refuses_the_dev_signing_secret(tmp_path: Path) -> None:
    jwt_file = tmp_path / "jwt"
    jwt_file.write_text(secrets.token_urlsafe(32) + "\n")
    done = _serve("recommendation-agent", "--host", "0.0.0.0", PLAYBOOKS_JWT_SECRET_FILE=str(jwt_file))
    assert done.returncode == 2, done.stderr
    assert "PLAYBOOKS_SIGNING_SECRET is the public dev placeholder" in done.stderr
    assert jwt_file.read_text().strip() not in done.stderr + done.stdout


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "192.168.1.10", "example.org", "[::]"])
def test_dev_secrets_refused_on_any_non_loopback_listener(host: str) -> None:
    with pytest.raises(ValueError, match="PLAYBOOKS_JWT_SECRET is the public dev placeholder"):
        PlatformSettings(listen_host=host)
    with pytest.raises(ValueError, match="PLAYBOOKS_SIGNING_SECRET is the public dev placeholder"):
        RecommendationSettings(listen_host=host, jwt_secret=REAL)
    with pytest.raises(ValueError, match=r"PLAYBOOKS_SIGNING_PREVIOUS_KEYS\[k0\] is the public dev placeholder"):
        RecommendationSettings(
            listen_host=host, jwt_secret=REAL, signing_secret=REAL, signing_previous_keys={"k0": DEV_SIGNING_SECRET}
        )
    # Real secrets are fine anywhere.
    RecommendationSettings(listen_host=host, jwt_secret=REAL, signing_secret=REAL)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "[::1]"])
def test_dev_secrets_accepted_on_loopback_but_never_in_prod(host: str) -> None:
    assert RecommendationSettings(listen_host=host).signing_secret.get_secret_value() == DEV_SIGNING_SECRET
    with pytest.raises(ValueError, match="PLAYBOOKS_JWT_SECRET must be set when PLAYBOOKS_ENV=prod"):
        PlatformSettings(listen_host=host, env="prod")
    with pytest.raises(ValueError, match="PLAYBOOKS_SIGNING_SECRET must be set when PLAYBOOKS_ENV=prod"):
        RecommendationSettings(listen_host=host, env="prod", jwt_secret=REAL)


@pytest.mark.parametrize(
    ("setting", "values"),
    [
        ("PLAYBOOKS_JWT_SECRET", {"jwt_secret": "x" * 31}),
        ("PLAYBOOKS_SIGNING_SECRET", {"signing_secret": "x" * 31}),
        ("PLAYBOOKS_SIGNING_PREVIOUS_KEYS[k0]", {"signing_secret": REAL, "signing_previous_keys": {"k0": "short"}}),
    ],
)
def test_short_secrets_are_refused_naming_the_setting(setting: str, values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=re.escape(setting) + r" has \d+ bytes") as err:
        RecommendationSettings(**values)
    assert "x" * 31 not in str(err.value) and "short" not in str(err.value), "the refusal must not print the secret"
    # Multi-byte characters count as bytes: 11 three-byte characters are 33 bytes.
    RecommendationSettings(jwt_secret="€" * 11, signing_secret=REAL)


def test_a_short_secret_from_a_file_is_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jwt").write_text("tiny\n")
    monkeypatch.setenv("PLAYBOOKS_JWT_SECRET_FILE", str(tmp_path / "jwt"))
    with pytest.raises(ValueError, match="PLAYBOOKS_JWT_SECRET has 4 bytes"):
        PlatformSettings()


def test_secrets_come_from_files_and_never_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+asyncpg://playbooks:canary-db-password@db:5432/playbooks"
    (tmp_path / "db").write_text(url + "\n")
    (tmp_path / "jwt").write_text(REAL)
    (tmp_path / "keys").write_text(json.dumps({"k0": OLD}))
    monkeypatch.setenv("PLAYBOOKS_DATABASE_URL_FILE", str(tmp_path / "db"))
    monkeypatch.setenv("PLAYBOOKS_JWT_SECRET_FILE", str(tmp_path / "jwt"))
    monkeypatch.setenv("PLAYBOOKS_SIGNING_SECRET_FILE", str(tmp_path / "jwt"))
    monkeypatch.setenv("PLAYBOOKS_SIGNING_PREVIOUS_KEYS_FILE", str(tmp_path / "keys"))
    monkeypatch.setenv("PLAYBOOKS_SIGNING_KEY_ID", "k1")
    monkeypatch.delenv("PLAYBOOKS_DATABASE_URL", raising=False)
    settings = RecommendationSettings(listen_host="0.0.0.0")
    assert settings.database_url == url and settings.jwt_secret.get_secret_value() == REAL
    assert settings.signing_keys() == {"k0": OLD, "k1": REAL}
    assert not any(REAL in v or "canary-db-password" in v for v in os.environ.values())
    # Every secret setting of every service can come from a file.
    assert {"database_url", "jwt_secret", "signing_secret", "signing_previous_keys", "llm_api_key"} <= set(
        RecommendationSettings.secret_setting_names()
    )
    monkeypatch.setenv("PLAYBOOKS_JWT_SECRET", REAL)
    with pytest.raises(ValueError, match="set PLAYBOOKS_JWT_SECRET or PLAYBOOKS_JWT_SECRET_FILE, not both"):
        PlatformSettings()
    monkeypatch.delenv("PLAYBOOKS_JWT_SECRET")
    monkeypatch.setenv("PLAYBOOKS_JWT_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"PLAYBOOKS_JWT_SECRET_FILE=.*cannot read it"):
        PlatformSettings()


@pytest.mark.parametrize("service", installed_services())
def test_every_secret_setting_of_every_service_can_come_from_a_file(service: str) -> None:
    cls = load_spec(service).settings_cls
    looks_secret = re.compile(r"secret|password|token|credential|_keys?$|database_url")
    named = {n for n in cls.model_fields if looks_secret.search(n) and not n.endswith(("_file", "_id"))}
    assert named <= set(cls.secret_setting_names()), f"{service}: secrets without a _FILE form: {named}"
    for name in cls.secret_setting_names():
        annotation = str(cls.model_fields[name].annotation)
        assert name in cls.secret_settings or "SecretStr" in annotation, f"{service}.{name} would print in a repr"


def test_a_refused_setting_does_not_print_the_secrets_read_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYBOOKS_DATABASE_URL", "postgresql://u:canary-db-password@db/x")
    with pytest.raises(ValueError) as err:
        PlatformSettings(listen_host="0.0.0.0")
    assert "canary-db-password" not in str(err.value)


# Signed artifact URLs, against a running recommendation-agent holding a real key (k2) and a rotated one (k1).


@pytest.fixture(scope="module")
async def agent(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with running_service(
        "recommendation-agent",
        infra,
        index_path=tmp_path_factory.mktemp("edge"),
        embedding_cache_path=tmp_path_factory.mktemp("embeddings"),
        embeddings_url="http://127.0.0.1:9",  # never called: no search here, and no model to load
        index_library_on_start=False,
        signing_secret=REAL,
        signing_key_id="k2",
        signing_previous_keys={"k1": OLD},
    ) as (client, _runtime, _app):
        yield client


async def _upload_url(client: httpx.AsyncClient, infra: Infra, org: str, file: str = "shell/main.sh") -> str:
    r = await client.post(
        "/api/playbook/upload/request",
        json={"playbook_id": "secrets-probe", "version": "1.0.0", "files": [file]},
        headers=infra.auth(org),
    )
    assert r.status_code == 200, r.text
    url = urlsplit(r.json()["urls"][file])
    return f"{url.path}?{url.query}"


def _resign(url: str, keyring: signing.Keyring, *, path: str | None = None, now: float | None = None) -> str:
    """The same URL (nonce kept) signed again by someone holding ``keyring``."""
    parts = urlsplit(url)
    nonce = parse_qs(parts.query)["nonce"][0]
    return signing.sign(keyring, "PUT", path or parts.path, 60, nonce=nonce, now=now)[0]


async def test_an_upload_url_works_once(agent: httpx.AsyncClient, infra: Infra, org: str) -> None:
    url = await _upload_url(agent, infra, org)
    assert (await agent.put(url, content=b"echo first\n")).status_code == 200
    second = await agent.put(url, content=b"echo replaced\n")
    assert second.status_code == 409 and "already used" in second.json()["detail"]
    assert (await agent.put(url, content=b"echo first\n")).status_code == 409, "not even the same bytes"
    # A too-large body does not burn the URL: the nonce is recorded with the stored artifact only.
    other = await _upload_url(agent, infra, org, "shell/other.sh")
    assert (await agent.put(other, content=b"x" * (512 * 1024 + 1))).status_code == 413
    assert (await agent.put(other, content=b"echo other\n")).status_code == 200


async def test_the_nonce_cannot_be_swapped_or_dropped(agent: httpx.AsyncClient, infra: Infra, org: str) -> None:
    url = await _upload_url(agent, infra, org)
    path, query = url.split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    swapped = urlencode(params | {"nonce": signing.new_nonce()})
    assert (await agent.put(f"{path}?{swapped}", content=b"echo\n")).status_code == 403
    dropped = urlencode({k: v for k, v in params.items() if k != "nonce"})
    assert (await agent.put(f"{path}?{dropped}", content=b"echo\n")).status_code == 422


async def test_an_upload_url_does_not_reach_another_org(agent: httpx.AsyncClient, infra: Infra, org: str) -> None:
    url = await _upload_url(agent, infra, org)
    victim = f"{org}-victim"
    # The org is inside the signed payload: moving the URL to another org breaks the signature.
    moved = url.replace(f"/upload/{org}/", f"/upload/{victim}/")
    assert (await agent.put(moved, content=b"echo\n")).status_code == 403
    # Signed with the public dev secret (under the current key id): refused, the service holds a real key.
    path = urlsplit(moved).path
    dev_signed = _resign(url, signing.Keyring(current="k2", keys={"k2": DEV_SIGNING_SECRET}), path=path)
    assert (await agent.put(dev_signed, content=b"echo\n")).status_code == 403
    # A valid URL sent with a token of another org is refused: the caller uploads into their own org only.
    r = await agent.put(url, content=b"echo\n", headers=infra.auth(victim))
    assert r.status_code == 403 and victim in r.json()["detail"]
    # ... and that refusal did not burn the URL for its owner.
    assert (await agent.put(url, content=b"echo\n", headers=infra.auth(org))).status_code == 200


async def test_expired_forged_and_unknown_key_urls_are_refused(
    agent: httpx.AsyncClient, infra: Infra, org: str
) -> None:
    url = await _upload_url(agent, infra, org)
    assert "kid=k2" in url
    keys = signing.Keyring(current="k2", keys={"k2": REAL, "k1": OLD})
    expired = _resign(url, keys, now=time.time() - 120)
    r = await agent.put(expired, content=b"echo\n")
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    forged = url.replace("signature=", "signature=0")
    assert (await agent.put(forged, content=b"echo\n")).status_code == 403
    unknown = _resign(url, signing.Keyring(current="k9", keys={"k9": REAL}))
    r = await agent.put(unknown, content=b"echo\n")
    assert r.status_code == 403 and "'k9'" in r.json()["detail"]
    # The rotated key k1 still verifies the URLs it signed (until the operator removes it).
    rotated = _resign(url, signing.Keyring(current="k1", keys={"k1": OLD}))
    assert (await agent.put(rotated, content=b"echo\n")).status_code == 200


def test_compose_publishes_nothing_beyond_loopback() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    published = 0
    for name, svc in compose["services"].items():
        assert svc.get("network_mode") != "host", f"{name} shares the host's network"
        for port in svc.get("ports", []):
            published += 1
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).rsplit(":", 2)[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert published, "the compose file publishes the services on loopback for the host"
