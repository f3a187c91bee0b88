"""Counting a chat request's input tokens with the model's own tokenizer, when one is on this machine.

    count = await count_chat("org/model", chat)        # Count(tokens, "tokenizer" | "estimate")
    model_id(upstreams, "claude-sonnet-4-5")            # the HF id a requested name is served as

The tokenizer is the model's `tokenizer.json` in the Hugging Face Hub cache, as `huggingface_hub`
lays it out (`models--{org}--{name}/snapshots/{revision}/tokenizer.json`, the revision `refs/main`
names preferred, else the newest snapshot that has one). The cache is where `huggingface_hub` puts
it: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
`$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`. Nothing is ever downloaded: an
operator puts a model's tokenizer there (`hf download org/model tokenizer.json`) or points
`HF_HUB_CACHE` at a cache that has it. It is read with the `tokenizers` package (the `tokens` extra),
imported only once a tokenizer file is found.

What is counted is what the model reads: each message's text (the system prompt is a message),
its tool calls' names and arguments, and the JSON of each tool definition, each encoded without
special tokens; plus `MESSAGE_TOKENS` per message for the chat template's role markers (5: ChatML's
`<|im_start|>`, role, newline, `<|im_end|>`, newline; Llama 3's and Gemma's templates spend as
many) and `IMAGE_TOKENS` per image (1,024: the image is not decoded; vision models spend from
about 256 to 1,600 tokens on one).

Without a tokenizer (none in the cache, the `tokenizers` package not installed, a file it cannot
read) the same pieces are estimated at about four characters a token (`usage.estimate_tokens`),
with the same overheads, and the count says `estimate`. Counting never fails.

Loading and encoding run in a worker thread. The last `LOADED` tokenizers stay loaded; where a
model's tokenizer is (or that it has none, or an unreadable one) is remembered for `LOOKUP_TTL`
seconds, so a model without one costs no disk access per request, and a tokenizer put in the cache
(or a new revision of it) is used within that time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson

from hubroute.errors import InvalidRequest
from hubroute.usage import estimate_tokens

if TYPE_CHECKING:
    from hubroute.routing.upstreams import Upstreams

log = logging.getLogger("hubroute.tokens")

#: tokens the chat template adds around each message (role markers, separators)
MESSAGE_TOKENS = 5
#: tokens counted for each image (not decoded: a fixed estimate)
IMAGE_TOKENS = 1024
#: tokenizers kept loaded (the most recently used)
LOADED = 4
#: seconds a model's tokenizer file (or its absence) is remembered
LOOKUP_TTL = 30.0
#: models whose look-up is remembered (names come from clients: cleared when full)
_LOOKUPS_MAX = 1024

#: a Hub model id as the Hub allows it (`org/name` or `name`; no `--`, no `..`)
_REPO_ID = re.compile(r"(?:[A-Za-z0-9_.-]{1,96}/)?[A-Za-z0-9_.-]{1,96}")
_REVISION = re.compile(r"[A-Za-z0-9_.-]{1,128}")

Source = Literal["tokenizer", "estimate"]


@dataclass(slots=True, frozen=True)
class Count:
    tokens: int
    source: Source


_lock = threading.Lock()
#: (hub cache, model id) -> (when it was looked up, its tokenizer file or None)
_lookups: dict[tuple[str, str], tuple[float, Path | None]] = {}
#: tokenizer file -> the loaded tokenizer, least recently used first
_loaded: OrderedDict[Path, Any] = OrderedDict()
_no_package = False


async def count_chat(model: str, chat: dict[str, Any], environ: Mapping[str, str] = os.environ) -> Count:
    """The input tokens of a chat completion request for the Hub model `model` (its HF id)."""
    pieces, messages, images = _pieces(chat)
    overhead = messages * MESSAGE_TOKENS + images * IMAGE_TOKENS
    key = (str(hub_cache(environ)), model)
    if _is_hub_id(model) and not _no_package and not _known_missing(key):
        counted = await asyncio.to_thread(_count, key, pieces)
        if counted is not None:
            return Count(counted + overhead, "tokenizer")
    return Count(sum(estimate_tokens(p) for p in pieces) + overhead, "estimate")


def model_id(upstreams: Upstreams, name: str) -> str:
    """The HF id a requested model name is served as: aliases resolved, `:provider` and `:policy`
    suffixes taken off (as the router plans it); the name as given when it does not parse (an
    unknown suffix: then no tokenizer is found for it, and the count is estimated)."""
    try:
        return upstreams.deployments(name)[0].model
    except InvalidRequest:
        return name


def hub_cache(environ: Mapping[str, str] = os.environ) -> Path:
    """The Hugging Face Hub cache directory, as `huggingface_hub` finds it."""
    cache = environ.get("HF_HUB_CACHE") or environ.get("HUGGINGFACE_HUB_CACHE")
    if cache:
        return Path(cache).expanduser()
    home = environ.get("HF_HOME") or os.path.join(environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return Path(home, "hub").expanduser()


def find_tokenizer(model: str, cache: Path) -> Path | None:
    """`model`'s tokenizer.json in the Hub cache `cache`: in the snapshot `refs/main` names, else in
    the newest snapshot that has one; None when there is none."""
    if not _is_hub_id(model):
        return None
    repo = cache / ("models--" + model.replace("/", "--"))
    try:
        ref = (repo / "refs" / "main").read_text().strip()
    except (OSError, UnicodeDecodeError):
        ref = ""
    if _REVISION.fullmatch(ref) and ref not in (".", ".."):
        path = repo / "snapshots" / ref / "tokenizer.json"
        if path.is_file():
            return path
    try:
        found = [(s.stat().st_mtime, s.name, s / "tokenizer.json") for s in (repo / "snapshots").iterdir()
                 if (s / "tokenizer.json").is_file()]
    except OSError:
        return None
    return max(found)[2] if found else None


def clear() -> None:
    """Forget every look-up and loaded tokenizer (tests)."""
    global _no_package
    with _lock:
        _lookups.clear()
        _loaded.clear()
        _no_package = False


def _is_hub_id(model: str) -> bool:
    return _REPO_ID.fullmatch(model) is not None and "--" not in model and ".." not in model


def _pieces(chat: dict[str, Any]) -> tuple[list[str], int, int]:
    """The texts a chat request gives the model, its number of messages and of images."""
    pieces: list[str] = []
    images = 0
    messages = chat.get("messages")
    messages = messages if isinstance(messages, list) else []
    for message in messages:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    pieces.append(part["text"])
                elif isinstance(part, dict) and part.get("type") == "image_url":
                    images += 1
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                pieces += [str(function.get("name", "")), str(function.get("arguments", ""))]
    tools = chat.get("tools")
    pieces += [orjson.dumps(tool).decode() for tool in (tools if isinstance(tools, list) else ())]
    return [p for p in pieces if p], len(messages), images


def _known_missing(key: tuple[str, str]) -> bool:
    with _lock:
        found = _lookups.get(key)
    return found is not None and found[1] is None and time.monotonic() - found[0] < LOOKUP_TTL


def _count(key: tuple[str, str], pieces: list[str]) -> int | None:
    """The tokens of `pieces` by the model's tokenizer; None without one (in a worker thread)."""
    tokenizer = _tokenizer(key)
    if tokenizer is None:
        return None
    try:
        return sum(len(tokenizer.encode(p, add_special_tokens=False)) for p in pieces)
    except Exception as exc:  # (a tokenizer that loads but cannot encode: estimated, and not tried again soon)
        log.warning("tokenizer of %s failed (%s): token counts are estimated", key[1], exc)
        _remember(key, None)
        return None


def _tokenizer(key: tuple[str, str]) -> Any:
    now = time.monotonic()
    with _lock:
        found = _lookups.get(key)
    if found is not None and now - found[0] < LOOKUP_TTL:
        path = found[1]
    else:
        path = find_tokenizer(key[1], Path(key[0]))
        _remember(key, path, now)
    if path is None:
        return None
    with _lock:
        tokenizer = _loaded.get(path)
        if tokenizer is not None:
            _loaded.move_to_end(path)
            return tokenizer
    tokenizer = _load(path)  # (outside the lock: two threads may load one file at once, to the same result)
    if tokenizer is None:
        _remember(key, None, now)
        return None
    with _lock:
        _loaded[path] = tokenizer
        while len(_loaded) > LOADED:
            _loaded.popitem(last=False)
    return tokenizer


def _load(path: Path) -> Any:
    global _no_package
    try:
        from tokenizers import Tokenizer
    except ImportError:
        if not _no_package:
            log.warning("a tokenizer is in the Hub cache (%s) but the `tokenizers` package is not installed "
                        "(pip install 'hubroute[tokens]'): token counts are estimated", path)
        _no_package = True
        return None
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # (what it raises for a file it cannot read is a bare Exception)
        log.warning("cannot read the tokenizer %s (%s): token counts are estimated", path, exc)
        return None


def _remember(key: tuple[str, str], path: Path | None, when: float | None = None) -> None:
    with _lock:
        if len(_lookups) >= _LOOKUPS_MAX and key not in _lookups:
            _lookups.clear()
        _lookups[key] = (time.monotonic() if when is None else when, path)
