"""`hubroute.tokens`: where a model's tokenizer is found in the Hub cache, what a chat request counts by
it (text, tool calls, tools, the per-message and per-image amounts), and the estimate whenever there
is no tokenizer to count with (none, the package missing, a broken file); tokenizers kept loaded
and look-ups remembered, within bounds."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hubroute import tokens
from hubroute.config import Settings
from hubroute.routing.upstreams import Upstreams
from hubroute.tokens import IMAGE_TOKENS, MESSAGE_TOKENS, Count, count_chat, find_tokenizer, hub_cache
from hubroute.usage import estimate_tokens
from tests.hub_cache import put, tokens_of, word_tokenizer

MODEL = "acme/chat-model"
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    tokens.clear()
    yield
    tokens.clear()


def env(cache: Path) -> dict[str, str]:
    return {"HF_HUB_CACHE": str(cache)}


def chat(*messages: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), **more}


# --- where the cache and the tokenizer are ----------------------------------------------------------
@pytest.mark.parametrize(("environ", "expected"), [
    ({"HF_HUB_CACHE": "/c/hub", "HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HOME": "/h"}, "/c/hub"),
    ({"HUGGINGFACE_HUB_CACHE": "/legacy", "HF_HOME": "/h"}, "/legacy"),
    ({"HF_HOME": "/h", "XDG_CACHE_HOME": "/x"}, "/h/hub"),
    ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
    ({}, os.path.expanduser("~/.cache/huggingface/hub")),
    ({"HF_HUB_CACHE": "~/hub"}, os.path.expanduser("~/hub")),
])
def test_the_hub_cache_is_where_huggingface_hub_puts_it(environ: dict[str, str], expected: str) -> None:
    assert hub_cache(environ) == Path(expected)


def test_the_revision_refs_main_names_is_preferred(tmp_path: Path) -> None:
    tok = word_tokenizer()
    newer = put(tmp_path, MODEL, tok, "def", main=False)
    main = put(tmp_path, MODEL, tok, "abc")
    assert find_tokenizer(MODEL, tmp_path) == main
    (tmp_path / "models--acme--chat-model" / "refs" / "main").write_text("gone")  # a revision not in the cache
    os.utime(main.parent, (1, 1))
    assert find_tokenizer(MODEL, tmp_path) == newer  # then the newest snapshot that has one
    assert find_tokenizer("acme/other", tmp_path) is None
    assert find_tokenizer("solo", tmp_path) is None
    solo = put(tmp_path, "solo", tok)  # an id without an organisation: models--solo
    assert find_tokenizer("solo", tmp_path) == solo


def test_a_symlinked_snapshot_file_as_the_hub_stores_it(tmp_path: Path) -> None:
    repo = tmp_path / "models--acme--chat-model"
    blob = repo / "blobs" / "0123abcd"
    blob.parent.mkdir(parents=True)
    word_tokenizer().save(str(blob))
    link = repo / "snapshots" / "abc" / "tokenizer.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("../../blobs/0123abcd"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc\n")
    assert find_tokenizer(MODEL, tmp_path) == link


@pytest.mark.parametrize("model", ["../acme/chat-model", "acme/../../etc", "acme--x/y", "a/b/c", "/abs/path",
                                   "acme/chat model", "acme\\chat", ""])
def test_names_that_are_not_hub_ids_find_nothing(tmp_path: Path, model: str) -> None:
    put(tmp_path, MODEL, word_tokenizer())
    assert find_tokenizer(model, tmp_path) is None


def test_a_refs_main_that_is_not_a_revision_is_not_followed(tmp_path: Path) -> None:
    put(tmp_path, "acme/evil", word_tokenizer(), "abc", main=False)
    refs = tmp_path / "models--acme--evil" / "refs"
    refs.mkdir()
    (refs / "main").write_text("../../models--acme--other/snapshots/x")
    assert find_tokenizer("acme/evil", tmp_path) == tmp_path / "models--acme--evil/snapshots/abc/tokenizer.json"


# --- counting ---------------------------------------------------------------------------------------
async def test_counted_by_the_tokenizer_with_the_documented_overheads(tmp_path: Path) -> None:
    tok = word_tokenizer()
    put(tmp_path, MODEL, tok)
    tool = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    request = chat(
        {"role": "system", "content": "Be brief and careful."},
        {"role": "user", "content": [{"type": "text", "text": "the cat sat on the mat"}, IMAGE, IMAGE]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "paris"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": "what is the weather in paris?"},
        tools=[tool])
    expected = tokens_of(tok, "Be brief and careful.", "the cat sat on the mat", "weather", '{"city": "paris"}',
                         "sunny", "what is the weather in paris?", orjson.dumps(tool).decode())
    assert await count_chat(MODEL, request, env(tmp_path)) == Count(expected + 5 * MESSAGE_TOKENS + 2 * IMAGE_TOKENS,
                                                                     "tokenizer")
    assert (MESSAGE_TOKENS, IMAGE_TOKENS) == (5, 1024)  # the numbers the module's docstring gives


async def test_without_a_tokenizer_the_same_pieces_are_estimated(tmp_path: Path) -> None:
    request = chat({"role": "system", "content": "Be brief."}, {"role": "user", "content": [
        {"type": "text", "text": "x" * 10}, IMAGE]})
    expected = estimate_tokens("Be brief.") + estimate_tokens("x" * 10) + 2 * MESSAGE_TOKENS + IMAGE_TOKENS
    assert await count_chat(MODEL, request, env(tmp_path)) == Count(expected, "estimate")
    assert await count_chat(MODEL, chat(), env(tmp_path)) == Count(0, "estimate")


@pytest.mark.parametrize("content", ["not json at all", '{"version": "1.0", "model": {"type": "Nonsense"}}', ""])
async def test_a_broken_tokenizer_file_is_estimated_and_said_once_a_while(
        tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture) -> None:
    put(tmp_path, MODEL, content)
    request = chat({"role": "user", "content": "the cat sat"})
    with caplog.at_level(logging.WARNING, "hubroute.tokens"):
        for _ in range(3):
            assert await count_chat(MODEL, request, env(tmp_path)) == Count(3 + MESSAGE_TOKENS, "estimate")
    assert len([r for r in caplog.records if "cannot read the tokenizer" in r.getMessage()]) == 1


async def test_a_tokenizer_that_fails_to_encode_is_estimated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing:
        def encode(self, text: str, add_special_tokens: bool = True) -> Any:
            raise RuntimeError("boom")

    put(tmp_path, MODEL, word_tokenizer())
    monkeypatch.setattr(tokens, "_load", lambda path: Failing())
    request = chat({"role": "user", "content": "the cat sat"})
    assert await count_chat(MODEL, request, env(tmp_path)) == Count(3 + MESSAGE_TOKENS, "estimate")


async def test_without_the_tokenizers_package_it_estimates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path, MODEL, word_tokenizer())
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # (an import of it raises ImportError)
    request = chat({"role": "user", "content": "the cat sat"})
    assert await count_chat(MODEL, request, env(tmp_path)) == Count(3 + MESSAGE_TOKENS, "estimate")
    assert tokens._no_package
    looked: list[str] = []
    monkeypatch.setattr(tokens, "find_tokenizer", lambda model, cache: looked.append(model))
    assert (await count_chat("acme/other", request, env(tmp_path))).source == "estimate"
    assert looked == []  # not looked for again


# --- what is kept -----------------------------------------------------------------------------------
async def test_a_miss_is_remembered_then_looked_up_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    find = tokens.find_tokenizer

    def counting(model: str, cache: Path) -> Path | None:
        calls.append(model)
        return find(model, cache)

    monkeypatch.setattr(tokens, "find_tokenizer", counting)
    request = chat({"role": "user", "content": "the cat sat"})
    for _ in range(5):
        assert (await count_chat(MODEL, request, env(tmp_path))).source == "estimate"
    assert calls == [MODEL]  # the disk looked at once
    put(tmp_path, MODEL, word_tokenizer())  # a tokenizer put in the cache is used once the miss is stale
    monkeypatch.setattr(tokens, "LOOKUP_TTL", 0.0)
    assert await count_chat(MODEL, request, env(tmp_path)) == Count(3 + MESSAGE_TOKENS, "tokenizer")
    assert calls == [MODEL, MODEL]


async def test_the_last_few_tokenizers_stay_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = word_tokenizer()
    models = [f"acme/m{i}" for i in range(tokens.LOADED + 2)]
    for model in models:
        put(tmp_path, model, tok)
    loads: list[Path] = []
    load = tokens._load

    def counting(path: Path) -> Any:
        loads.append(path)
        return load(path)

    monkeypatch.setattr(tokens, "_load", counting)
    request = chat({"role": "user", "content": "a dog"})
    for model in models:
        assert (await count_chat(model, request, env(tmp_path))).source == "tokenizer"
    assert len(tokens._loaded) == tokens.LOADED
    assert (await count_chat(models[-1], request, env(tmp_path))).source == "tokenizer"
    assert len(loads) == len(models)  # the most recent one was still loaded
    assert (await count_chat(models[0], request, env(tmp_path))).source == "tokenizer"
    assert len(loads) == len(models) + 1  # the oldest was not


def test_lookups_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_LOOKUPS_MAX", 10)
    for i in range(25):
        tokens._remember((str(tmp_path), f"acme/m{i}"), None)
    assert len(tokens._lookups) <= 10


# --- the model a name is served as ------------------------------------------------------------------
def test_the_model_a_requested_name_is_served_as() -> None:
    ups = Upstreams(Settings.parse("aliases: {claude-haiku: 'acme/chat-model:cheapest', sonnet: 'acme/big:groq'}",
                                   {}), {})
    assert tokens.model_id(ups, "acme/chat-model:groq") == "acme/chat-model"
    assert tokens.model_id(ups, "acme/chat-model:fastest") == "acme/chat-model"
    assert tokens.model_id(ups, "claude-haiku") == "acme/chat-model"
    assert tokens.model_id(ups, "sonnet") == "acme/big"
    assert tokens.model_id(ups, "acme/chat-model") == "acme/chat-model"
    assert tokens.model_id(ups, "acme/chat-model:nosuchprovider") == "acme/chat-model:nosuchprovider"


async def test_names_that_are_not_hub_ids_are_estimated_at_once(tmp_path: Path) -> None:
    request = chat({"role": "user", "content": "the cat sat"})
    assert await count_chat("x" * 100_000, request, env(tmp_path)) == Count(3 + MESSAGE_TOKENS, "estimate")
    assert tokens._lookups == {}  # nothing looked up, nothing kept
