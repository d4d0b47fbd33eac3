"""Intent rules and the synonym lexicon, the LLM fallback, and signed URLs."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace

import pytest

from playbooks_platform.errors import Forbidden
from recommendation_agent import signing
from recommendation_agent.intent import parse_intent, rules_intent


@pytest.mark.parametrize("phrase", ["turn off", "shutdown", "shut down", "stop", "power off", "switch off"])
def test_stop_synonyms(phrase: str):
    assert rules_intent(f"{phrase} the dev ec2 instances").action == "stop"


def test_weekend_production_rds():
    intent = rules_intent("Stop production RDS for weekend")
    assert intent.action == "stop"
    assert intent.cloud_provider == ["aws"]
    assert intent.resource_types == ["rds::instance"]
    assert intent.environment == "production"
    assert intent.time_context == "weekend"
    assert intent.category == "cost-optimization"
    assert any("snapshot first" in i for i in intent.implies)


def test_provider_narrows_resource_families():
    assert rules_intent("stop the database").resource_types == [
        "rds::instance",
        "azure::sql-database",
        "gcp::cloudsql-instance",
    ]
    assert rules_intent("stop the azure database").resource_types == ["azure::sql-database"]
    assert rules_intent("upgrade gke").cloud_provider == ["gcp"]
    assert rules_intent("rollback the k8s deployment").action == "rollback"
    assert rules_intent("start the vms on monday").action == "start"
    assert rules_intent("my bucket is public").category == "security"


class _FakeLLM(BaseHTTPRequestHandler):
    answers: list[str] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(length))
        assert body["messages"][0]["role"] == "system"
        content = self.answers.pop(0)
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm_server():
    server = HTTPServer(("127.0.0.1", 0), _FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _settings(url: str) -> SimpleNamespace:
    return SimpleNamespace(llm_url=url, llm_model="test", llm_api_key=None, llm_timeout_s=2.0)


async def test_llm_intent_is_used_when_valid_and_dropped_when_not(llm_server: str):
    _FakeLLM.answers = [
        json.dumps({"action": "stop", "cloud_provider": ["azure"], "resource_types": ["azure::vm"], "category": None}),
        "this is not json",
        json.dumps({"action": "stop", "cloud_provider": ["mars"]}),
        json.dumps({"action": "stop", "extra_field": 1}),
    ]
    valid = await parse_intent("power down the windows boxes", _settings(llm_server))
    assert valid.parser == "llm" and valid.cloud_provider == ["azure"]
    for _ in range(3):
        fallback = await parse_intent("Stop production RDS for weekend", _settings(llm_server))
        assert fallback.parser == "rules" and fallback.resource_types == ["rds::instance"]


async def test_llm_unreachable_falls_back_to_rules():
    intent = await parse_intent("stop rds", _settings("http://127.0.0.1:9"))
    assert intent.parser == "rules" and intent.action == "stop"


def test_signed_urls_expire_and_refuse_tampering():
    keys = signing.Keyring(current="k1", keys={"k1": "s" * 32})
    path = signing.download_path("org-a", "sha256:" + "a" * 64)
    url, expires = signing.sign(keys, "GET", path, 60, now=1000.0)
    assert expires == 1060 and "kid=k1" in url
    signature = url.split("signature=")[1]
    signing.verify(keys, "GET", path, kid="k1", expires=expires, signature=signature, now=1059.0)
    with pytest.raises(Forbidden, match="expired"):
        signing.verify(keys, "GET", path, kid="k1", expires=expires, signature=signature, now=1061.0)
    with pytest.raises(Forbidden, match="signature"):  # extended expiry
        signing.verify(keys, "GET", path, kid="k1", expires=expires + 3600, signature=signature, now=1000.0)
    other_path = signing.download_path("org-b", "sha256:" + "a" * 64)
    with pytest.raises(Forbidden, match="signature"):
        signing.verify(keys, "GET", other_path, kid="k1", expires=expires, signature=signature, now=1000.0)
    other_key = signing.Keyring(current="k1", keys={"k1": "o" * 32})
    with pytest.raises(Forbidden, match="signature"):
        signing.verify(other_key, "GET", path, kid="k1", expires=expires, signature=signature, now=1000.0)
    with pytest.raises(Forbidden, match="signature"):
        signing.verify(keys, "PUT", path, kid="k1", expires=expires, signature=signature, now=1000.0)


def test_rotated_keys_verify_until_removed_and_the_nonce_is_signed():
    old = signing.Keyring(current="k1", keys={"k1": "a" * 32})
    rotated = signing.Keyring(current="k2", keys={"k1": "a" * 32, "k2": "b" * 32})
    path = signing.upload_path("org-a", "pb", "1.0.0", "main.sh")
    url, expires = signing.sign(old, "PUT", path, 60, nonce="n" * 22, now=1000.0)
    signature = url.split("signature=")[1]
    signing.verify(rotated, "PUT", path, kid="k1", expires=expires, signature=signature, nonce="n" * 22, now=1000.0)
    assert "kid=k2" in signing.sign(rotated, "PUT", path, 60, now=1000.0)[0]
    with pytest.raises(Forbidden, match="signature"):  # another nonce: the recorded one cannot be swapped
        signing.verify(rotated, "PUT", path, kid="k1", expires=expires, signature=signature, nonce="m" * 22, now=1000.0)
    removed = signing.Keyring(current="k2", keys={"k2": "b" * 32})
    with pytest.raises(Forbidden, match="key 'k1'"):
        signing.verify(removed, "PUT", path, kid="k1", expires=expires, signature=signature, nonce="n" * 22, now=1000.0)
    with pytest.raises(Forbidden, match="signature"):  # a kid swapped to the other key's id
        signing.verify(rotated, "PUT", path, kid="k2", expires=expires, signature=signature, nonce="n" * 22, now=1000.0)


class _FakeEmbeddings(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        data = [{"index": i, "embedding": [float(len(t))] + [1.0] * 383} for i, t in enumerate(body["input"])]
        out = json.dumps({"data": list(reversed(data)), "model": body["model"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


async def test_openai_compatible_embeddings_client_orders_and_normalises():
    from recommendation_agent.embeddings import OpenAIEmbeddings

    server = HTTPServer(("127.0.0.1", 0), _FakeEmbeddings)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenAIEmbeddings(f"http://127.0.0.1:{server.server_address[1]}", "remote-model")
        vectors = await client.embed(["a", "abcd"])
        await client.close()
    finally:
        server.shutdown()
    assert vectors.shape == (2, 384)
    assert abs(float((vectors**2).sum(axis=1)[0]) - 1) < 1e-5
    assert vectors[1][0] > vectors[0][0]  # answers put back in input order
