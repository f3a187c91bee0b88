"""Contract over the whole registry: what every adapter must satisfy, whatever its provider."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import orjson
import pytest

from hubroute.errors import NotSupported, ProviderResponseError
from hubroute.providers import CHAT, REGISTRY, TEXT_GENERATION, Endpoint, Provider
from hubroute.providers._base import JsonSchemaMode
from hubroute.types import TASKS

from .helpers import HF_ROUTER, JSON_SCHEMA_FORMAT, target, via_hf

SECRET = "sk-SECRET-4e5f6a7b8c9d"
HF_SECRET = "hf_SECRET4e5f6a7b8c9d"
PROVIDERS = sorted(REGISTRY.values(), key=lambda p: p.name)
ids = [p.name for p in PROVIDERS]
each = pytest.mark.parametrize("p", PROVIDERS, ids=ids)

#: DESIGN.md: the providers Hugging Face's router serves today, and the ones hubroute reaches with
#: their own keys only.
HF_ROUTED = {
    "baseten", "cerebras", "cohere", "deepinfra", "fal-ai", "featherless-ai", "fireworks-ai", "groq",
    "hf-inference", "novita", "nscale", "ovhcloud", "publicai", "replicate", "scaleway", "together",
    "wavespeed", "zai-org",
}  # fmt: skip
DIRECT_ONLY = {"black-forest-labs", "hyperbolic", "nebius", "sambanova", "openai"}


def chats(p: Provider) -> bool:
    """Whether `p` serves chat; a provider without (fal-ai, replicate, ...) must refuse it."""
    if p.supports(CHAT):
        return True
    with pytest.raises(NotSupported):
        p.build_chat({"messages": []}, target(p, endpoints(p)[0]))
    return False


def endpoints(p: Provider) -> list[Endpoint]:
    out = [Endpoint(base_url=f"{HF_ROUTER}/{p.name}", api_key=HF_SECRET, via_hf=True)]
    if p.base_url is not None:
        out.append(Endpoint(base_url=p.base_url, api_key=SECRET))
    return out


def test_registry_is_explicit_and_sorted():
    assert list(REGISTRY) == sorted(REGISTRY)
    assert set(REGISTRY) == HF_ROUTED | DIRECT_ONLY


@each
def test_name_is_its_key_and_its_module(p: Provider):
    assert REGISTRY[p.name] is p
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", p.name)
    assert type(p).__module__ == "hubroute.providers." + p.name.replace("-", "_")


@each
def test_has_its_own_test_module(p: Provider):
    assert (Path(__file__).parent / f"test_{p.name.replace('-', '_')}.py").is_file()


@each
def test_hf_routing_matches_the_design(p: Provider):
    assert p.hf_routed is (p.name in HF_ROUTED)


@each
def test_base_url_is_an_https_root_or_none(p: Provider):
    if p.base_url is None:
        assert p.hf_routed, "an adapter with no direct URL must be reachable through Hugging Face"
        assert p.env_keys == ()
        return
    assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]{2,}", p.base_url), p.base_url
    assert p.env_keys, "a direct provider must say where its key is read from"
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*", var) for var in p.env_keys)
    assert len(set(p.env_keys)) == len(p.env_keys)
    assert p.env_api_key({p.env_keys[-1]: "from-env"}) == "from-env"
    assert p.env_api_key({var: "" for var in p.env_keys}) is None


@each
def test_routes(p: Provider):
    assert p.routes, "at least one route"
    assert set(p.routes) <= {CHAT, TEXT_GENERATION} | set(TASKS)  # every route is a known task
    for task, route in p.routes.items():
        assert route.startswith("/"), route
        assert not route.endswith("/"), route
        assert "?" not in route, route
        assert "//" not in route, route
        assert set(re.findall(r"{(\w*)}", route)) <= {"model"}
        if task not in (CHAT, TEXT_GENERATION):
            continue  # the classic tasks' routes are asserted per provider
        if task == TEXT_GENERATION and type(p).build_completion is not Provider.build_completion:
            continue  # a native text-generation API the adapter translates (hf-inference: TGI's)
        suffix = "/chat/completions" if task == CHAT else "/completions"
        assert route.endswith(suffix), route
        if task == TEXT_GENERATION:
            assert not route.endswith("/chat/completions"), route
        assert p.supports(task)
    assert not p.supports("no-such-task")


@each
def test_auth_and_quirk_flags_are_well_formed(p: Provider):
    assert re.fullmatch(r"[A-Za-z][A-Za-z-]*", p.auth_scheme)
    assert p.json_schema_mode in get_args(JsonSchemaMode)
    assert p.reasoning_key != "reasoning"  # renaming the canonical field to itself would be a no-op
    assert not p.unsupported_params & {"model", "messages", "stream", "prompt"}
    for name in p.extra_headers:
        assert name == name.lower()
        assert name not in {"authorization", "content-type", "content-length", "host"}


@each
def test_builds_a_valid_chat_request(p: Provider):
    if not chats(p):
        return
    body = {
        "model": "org/Some-Model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
    }
    original = orjson.dumps(body)
    for ep in endpoints(p):
        req = p.build_chat(body, target(p, ep, provider_model="prov/model-id"))
        assert req.method == "POST"
        assert req.url == ep.base_url + p.routes[CHAT].format(model="prov/model-id")
        assert req.stream is True
        assert req.headers["content-type"] == "application/json"
        payload = orjson.loads(req.body or b"")
        assert payload["model"] == "prov/model-id"
        assert payload["messages"] == body["messages"]
        assert payload["max_tokens"] == 16
        assert ("stream_options" in payload) is (not p.drop_stream_options)
    assert orjson.dumps(body) == original, "the caller's body must not be mutated"


@each
def test_builds_a_valid_completion_request_or_refuses(p: Provider):
    body = {"model": "org/Some-Model", "prompt": "Paris is", "max_tokens": 4}
    for ep in endpoints(p):
        tgt = target(p, ep, provider_model="prov/model-id", task=TEXT_GENERATION)
        if not p.supports(TEXT_GENERATION):
            with pytest.raises(NotSupported):
                p.build_completion(body, tgt)
            continue
        req = p.build_completion(body, tgt)
        assert req.url == ep.base_url + p.routes[TEXT_GENERATION].format(model="prov/model-id")
        if type(p).build_completion is Provider.build_completion:  # else its own API (test_<provider>.py)
            assert orjson.loads(req.body or b"") == {**body, "model": "prov/model-id"}
        assert req.stream is False


@each
def test_never_puts_a_key_in_the_url_or_body(p: Provider):
    if not chats(p):
        return
    for ep in endpoints(p):
        req = p.build_chat({"messages": []}, target(p, ep))
        key = ep.api_key or ""
        assert key not in req.url
        assert key.encode() not in (req.body or b"")
        assert key not in repr(ep)


@each
def test_auth_header_scheme(p: Provider):
    hf, *direct = endpoints(p)
    assert p.headers(target(p, hf))["authorization"] == f"Bearer {HF_SECRET}"
    for ep in direct:
        headers = p.headers(target(p, ep))
        key_header = getattr(p, "key_header", None)  # a key sent bare in its own header (BFL's X-Key)
        if key_header is not None:
            assert headers[key_header] == SECRET and "authorization" not in headers
            continue
        assert headers["authorization"] == f"{p.auth_scheme} {SECRET}"
    no_key = Endpoint(base_url=hf.base_url, api_key=None, via_hf=True)
    assert "authorization" not in p.headers(target(p, no_key))


@each
def test_extra_headers_ride_on_every_request(p: Provider):
    for ep in endpoints(p):
        headers = p.headers(target(p, ep))
        assert headers.items() >= p.extra_headers.items()


@each
def test_json_schema_response_format_keeps_a_json_type(p: Provider):
    if not chats(p):
        return
    ep = endpoints(p)[0]
    req = p.build_chat({"messages": [], "response_format": JSON_SCHEMA_FORMAT}, target(p, ep))
    fmt = orjson.loads(req.body or b"")["response_format"]
    assert fmt["type"] in {"json_schema", "json_object"}
    if p.json_schema_mode == "native":
        assert fmt == JSON_SCHEMA_FORMAT


@each
def test_checks_answers(p: Provider):
    good = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"content": "ok"}}]}
    assert p.check_chat(good)["choices"][0]["message"]["content"] == "ok"
    for bad in ({}, {"choices": []}, {"error": {"message": "boom"}}, [], None):
        with pytest.raises(ProviderResponseError) as info:
            p.check_chat(bad)
        assert info.value.provider == p.name


@each
def test_standard_chunks_pass_through(p: Provider):
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi", "reasoning": "r"}}]}
    assert p.adapt_chunk(orjson.loads(orjson.dumps(chunk))) == chunk
    assert p.rewrites_chunks is (p.reasoning_key is not None)
    assert p.rewrites(CHAT) is p.rewrites_chunks  # chat chunks are rewritten only for a reasoning rename


@each
def test_embeddings_requests_follow_the_declared_shape(p: Provider):
    if not p.supports("feature-extraction"):
        return
    t = target(p, via_hf(p), task="feature-extraction")
    req = p.build_embeddings({"model": "org/Some-Model", "input": ["a", "b"], "encoding_format": "float"}, t)
    assert req.url == f"{HF_ROUTER}/{p.name}{p.route('feature-extraction', t)}"
    body = orjson.loads(req.body or b"")
    if p.embeddings_shape == "hf":
        assert body == {"inputs": ["a", "b"]}
    else:
        assert body == {"model": "provider-model-id", "input": ["a", "b"], "encoding_format": "float"}
        assert req.url.endswith("/embeddings")
