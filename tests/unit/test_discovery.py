"""`routing.discovery`: reading an OpenAI model list, bounded, and laying what the servers list over
the catalog without changing it. (Reading real servers, refreshing and failing: tests/e2e/test_custom_endpoints.py.)"""

from __future__ import annotations

import orjson
import pytest

from hubroute.catalog import ModelEntry, ProviderMapping
from hubroute.config import DiscoverySettings
from hubroute.providers import Endpoint, OpenAICompatible
from hubroute.routing.discovery import DISCOVERED, Discovery, ListingError, parse_listing
from hubroute.transport import Transport


def listing(*ids: object) -> bytes:
    return orjson.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})


def test_ids_in_the_servers_order_bounded() -> None:
    assert parse_listing(listing("b/one", "a/two", "llama3.2:latest"), 10) == (["b/one", "a/two", "llama3.2:latest"], 0)
    assert parse_listing(listing(*(f"m/{i}" for i in range(5))), 2) == (["m/0", "m/1"], 3)


def test_unusable_items_are_skipped() -> None:
    body = orjson.dumps({"data": [{"id": "ok/1"}, {"id": ""}, {"id": 7}, {"name": "x"}, "str", {"id": "has space"},
                                  {"id": "x" * 300}, {"id": "ctl\x00"}, {"id": "ok/1"}, {"id": "ok/2"}]})
    assert parse_listing(body, 10) == (["ok/1", "ok/2"], 0)


@pytest.mark.parametrize("body", [b"<html>", b'{"models": []}', b"[]", b'{"data": {}}'])
def test_not_a_model_list(body: bytes) -> None:
    with pytest.raises(ListingError):
        parse_listing(body, 10)


def discovery(**lists: list[str]) -> Discovery:
    servers = [(name, OpenAICompatible(name=name, base_url=f"http://{name}.local/v1"),
                Endpoint(f"http://{name}.local/v1", None)) for name in lists]
    d = Discovery(servers, Transport(), DiscoverySettings())
    for server, ids in zip(d._servers, lists.values(), strict=True):
        server.ids = ids
    d._index()
    return d


def test_listed_ids_are_laid_over_the_catalog_entry() -> None:
    d = discovery(vllm=["Qwen/Qwen2.5-7B-Instruct", "my/finetune"], ollama=["my/finetune"])
    base = ModelEntry("Qwen/Qwen2.5-7B-Instruct", "conversational", [ProviderMapping("together", "qwen-turbo")])
    merged = d.entry("qwen/qwen2.5-7b-instruct", base)
    assert merged is not None and merged is not base
    assert [(m.provider, m.provider_id, m.source) for m in merged.providers] == [
        ("together", "qwen-turbo", "builtin"), ("vllm", "Qwen/Qwen2.5-7B-Instruct", DISCOVERED)]
    assert base.providers == [ProviderMapping("together", "qwen-turbo")]  # the catalog's entry is untouched
    assert d.entry("Qwen/Qwen2.5-7B-Instruct", base) is merged  # stable while neither side changes: cacheable
    own = d.entry("my/finetune", None)
    assert own is not None and own.id == "my/finetune" and [m.provider for m in own.providers] == ["vllm", "ollama"]
    assert d.entry("not/listed", None) is None and d.entry("not/listed", base) is base
    assert [e.id for e in d.entries(skip={"qwen/qwen2.5-7b-instruct"})] == ["my/finetune"]


def test_a_provider_the_catalog_already_maps_keeps_its_mapping() -> None:
    d = discovery(vllm=["a/b"])
    configured = ModelEntry("a/b", "feature-extraction", [ProviderMapping("vllm", "served-name", "feature-extraction",
                                                                          source="config")])
    assert d.entry("a/b", configured) is configured
