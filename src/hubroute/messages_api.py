"""Anthropic's Messages API over OpenAI's chat completions: requests, answers and streams translated.

    chat = to_chat(body)                       # a Messages request -> a chat completion request
    message = from_chat(answer, model)         # a chat completion -> a Messages answer
    events = MessageStream(model, input_tokens)
    out = events.start() + events.chunk(c) ... + events.finish(usage)   # SSE bytes, Anthropic's order

Pure functions and a small state machine: no I/O. The server's `/v1/messages` route
(`server/routes/messages.py`) sends the chat request through the router (every chat provider,
failover, metering) and answers with what these make.

What is kept: `system` (a string or text blocks, and system messages within `messages`); text,
image (base64 or URL), `tool_use`, `tool_result` (text and image content, `is_error`) blocks;
`tools`, `tool_choice` (`auto`, `any`, `tool`, `none`, `disable_parallel_tool_use`),
`stop_sequences`, `max_tokens`, `temperature`, `top_p`, `top_k`, `metadata.user_id`, `thinking`
(`enabled`: its budget as a reasoning effort; `adaptive`: `output_config.effort` as the effort;
`disabled` or none: no reasoning asked, and a provider's reasoning, if its model reasons anyway, not
given, as Anthropic's API gives thinking blocks only when asked). `cache_control` marks and
`context_management` are for Anthropic's own servers: ignored.

A provider's reasoning text comes back as a `thinking` block signed with the provider's name and
model; sent back in the conversation, it goes to that provider if it takes reasoning back and is
dropped otherwise, never turned into text (`hubroute.replayed`). Tool-use ids a provider gives that
Anthropic's pattern refuses, or that repeat, are replaced (`tool_use_id`), and mapped back when the
client sends them again. Usage as Anthropic counts it: `input_tokens` without the cache reads.
"""

from __future__ import annotations

import base64
import random
import re
from typing import Any

import orjson

from hubroute import replayed
from hubroute.errors import InvalidRequest

#: the reasoning effort a thinking budget asks for (budgets up to this many tokens: this effort)
_EFFORT = ((4096, "low"), (16384, "medium"))

_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
         "content_filter": "refusal"}


#: the text and thinking blocks, as `MessageStream.open` holds them (compared by identity)
_TEXT: tuple[str, None] = ("text", None)
_THINKING: tuple[str, None] = ("thinking", None)
#: the ids Anthropic's API gives tool_use blocks (and its clients may check)
_TOOL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: an id of ours that carries a provider's own, which Anthropic's pattern refused
_CARRIED = "toolu_hr_"


def message_id() -> str:
    return f"msg_{random.getrandbits(96):024x}"  # (no system call an id: see responses_api.new_id)


def tool_use_id(given: Any, seen: set[str]) -> str:
    """The id a client gets for a provider's tool call: the provider's own when Anthropic's pattern
    takes it and no other call of the answer has it; one that carries it (mapped back by
    `provider_id`) when its characters do not fit (`functions.bash:0`); a new one when it is
    missing or repeated (some servers number each answer's calls from 0), so that every tool_use
    meets its own tool_result."""
    out = ""
    if isinstance(given, str) and given and given not in seen:
        out = given if _TOOL_ID.fullmatch(given) else \
            _CARRIED + base64.urlsafe_b64encode(given.encode()).rstrip(b"=").decode()
    if not _TOOL_ID.fullmatch(out):  # (none, repeated, or too long once carried: one of ours)
        out = f"toolu_{random.getrandbits(96):024x}"
    seen.add(out)
    return out


def provider_id(given: Any) -> str:
    """The id a provider gave a tool call, from the one its client got (`tool_use_id`)."""
    text = str(given or "")
    if text.startswith(_CARRIED):
        encoded = text[len(_CARRIED):]
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except ValueError:
            return text
    return text


# --- requests ---------------------------------------------------------------------------------------
def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completion request for a Messages request (InvalidRequest for one that is not)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: a model name is required", param="model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens: a positive integer is required", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: a non-empty list is required", param="messages")
    out: list[dict[str, Any]] = []
    system = _text_of(body.get("system"), "system")
    if system:
        out.append({"role": "system", "content": system})
    for i, message in enumerate(messages):
        out += _message(message, f"messages.{i}")
    # (an assistant turn of thinking alone, that no provider takes back, is no message)
    out = [m for m in out if m["role"] != "assistant" or m.get("content") is not None or m.get("tool_calls")
           or replayed.KEY in m]
    chat: dict[str, Any] = {"model": model, "messages": out, "max_tokens": max_tokens}
    replayed.flag(chat)
    for key in ("temperature", "top_p", "top_k", "stream"):
        if body.get(key) is not None:
            chat[key] = body[key]
    stops = body.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest("stop_sequences: a list of strings", param="stop_sequences")
        chat["stop"] = stops
    user = (body.get("metadata") or {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    if isinstance(user, str):
        chat["user"] = user
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequest("tools: a list of tools", param="tools")
    if tools:
        chat["tools"] = [_tool(t, f"tools.{i}") for i, t in enumerate(tools)]
    choice = body.get("tool_choice")
    if choice is not None:
        chat.update(_tool_choice(choice))
    thinking = body.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")  # type: ignore[union-attr]
        budget = budget if isinstance(budget, int) else 0
        chat["reasoning_effort"] = next((effort for most, effort in _EFFORT if budget <= most), "high")
    elif kind == "adaptive":  # the model decides; `output_config.effort` says how hard it may think
        config = body.get("output_config")
        effort = config.get("effort") if isinstance(config, dict) else None
        if effort in ("low", "medium", "high", "max"):
            chat["reasoning_effort"] = "high" if effort == "max" else effort
    return chat


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise InvalidRequest(f"{where}: a message with role 'user', 'assistant' or 'system'", param=where)
    role, content = message["role"], message.get("content")
    if role == "system":  # (instructions given mid-conversation, as Claude Code sends them)
        return [{"role": "system", "content": _text_of(content, f"{where}.content")}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: a string or a list of content blocks", param=where)
    if role == "assistant":
        return [_assistant(content, where)]
    tool_results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, f"{where}.content.{j}"))
        elif kind == "tool_result":
            text, images = _tool_result(block, f"{where}.content.{j}")
            tool_results.append({"role": "tool", "tool_call_id": provider_id(block.get("tool_use_id")),
                                 "content": text})
            parts += images  # (a tool's images go with the user's turn that follows its results)
        elif kind in ("thinking", "redacted_thinking", "document", "search_result"):
            continue  # not for a chat provider; never turned into text
        else:
            raise InvalidRequest(f"{where}.content.{j}: unknown content block type {kind!r}", param=where)
    out = tool_results  # (a chat provider wants tool results right after the assistant's calls)
    if parts:
        out.append({"role": "user", "content": parts if any(p["type"] != "text" for p in parts)
                    else "\n".join(p["text"] for p in parts)})
    return out


def _assistant(content: list[Any], where: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    thinking: tuple[Any, Any] | None = None
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": provider_id(block.get("id")), "type": "function", "function": {
                "name": str(block.get("name", "")), "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        elif kind == "thinking":
            thinking = (block.get("thinking"), block.get("signature"))
        elif kind == "redacted_thinking":
            continue
        else:
            raise InvalidRequest(f"{where}.content.{j}: unknown content block type {kind!r} for an assistant",
                                 param=where)
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        out["tool_calls"] = calls
    if thinking is not None:  # (back to the provider that reasoned it, if it takes it: never made text)
        replayed.carry(out, *thinking)
    return out


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        return {"type": "image_url",
                "image_url": {"url": f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}"}}
    if isinstance(source, dict) and source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise InvalidRequest(f"{where}.source: an image source of type 'base64' or 'url'", param=where)


def _tool_result(block: dict[str, Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image":
                images.append(_image(part, f"{where}.content.{k}"))
    text = "\n".join(texts)
    if block.get("is_error"):
        text = f"Error: {text}"
    return text, images


def _text_of(value: Any, where: str) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list):
        return "\n".join(str(b.get("text", "")) for b in value if isinstance(b, dict) and b.get("type") == "text")
    raise InvalidRequest(f"{where}: a string or a list of text blocks", param=where)


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise InvalidRequest(f"{where}: a tool with a name", param=where)
    function: dict[str, Any] = {"name": tool["name"],
                                "parameters": tool.get("input_schema") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> dict[str, Any]:
    if not isinstance(choice, dict):
        raise InvalidRequest("tool_choice: an object with a type", param="tool_choice")
    kind = choice.get("type")
    out: dict[str, Any]
    if kind == "auto":
        out = {"tool_choice": "auto"}
    elif kind == "any":
        out = {"tool_choice": "required"}
    elif kind == "none":
        out = {"tool_choice": "none"}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise InvalidRequest("tool_choice: type 'auto', 'any', 'tool' (with a name) or 'none'", param="tool_choice")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


# --- answers ----------------------------------------------------------------------------------------
def thinks(body: dict[str, Any]) -> bool:
    """Whether the request asked for thinking (as Anthropic's API, a provider's reasoning is given as
    thinking blocks only then)."""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def from_chat(answer: dict[str, Any], model: str, usage: Any = None, signed: str = "", *,
              thinking: bool = True) -> dict[str, Any]:
    """The Messages answer for a chat completion (`usage`: hubroute's `Usage`, the provider's or counted;
    `signed`: what signs its reasoning, `replayed.signature`; `thinking`: whether to give it)."""
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if thinking and isinstance(reasoning, str) and reasoning:
        content.append({"type": "thinking", "thinking": reasoning, "signature": signed})
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    seen: set[str] = set()
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        content.append({"type": "tool_use", "id": tool_use_id(call.get("id"), seen),
                        "name": function.get("name", ""), "input": _arguments(function.get("arguments"))})
    return {"id": message_id(), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": _STOP.get(choice.get("finish_reason") or "stop", "end_turn"), "stop_sequence": None,
            "usage": _usage(usage)}


def _arguments(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _usage(usage: Any) -> dict[str, int]:
    """Anthropic's usage: its `input_tokens` leave out the cache reads (`cache_read_input_tokens`),
    which a provider's prompt tokens include."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    cached = usage.input_cached or 0
    out = {"input_tokens": max((usage.input_tokens or 0) - cached, 0), "output_tokens": usage.output_tokens or 0}
    if cached:
        out["cache_read_input_tokens"] = cached
    return out


# --- streams ----------------------------------------------------------------------------------------
def event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **data}) + b"\n\n"


class MessageStream:
    """OpenAI chat chunks in, Anthropic's stream events out, in its order: `message_start`, `ping`, per
    content block `content_block_start`, its deltas, `content_block_stop`; then `message_delta` (the
    stop reason and the output tokens) and `message_stop`.

    Anthropic's blocks follow one another, where a provider may interleave its tool calls' argument
    pieces (or say more after a call has started): the first tool call streams as it comes, and what
    comes after it starts (other calls, text, thinking) is held and given, each block whole, once it
    ends. `thinking=False` (the client disabled thinking): a provider's reasoning is not given."""

    def __init__(self, model: str, input_tokens: int, signed: str = "", *, thinking: bool = True) -> None:
        self.model = model
        #: what signs the reasoning of the provider streaming (`replayed.signature`)
        self.signed = signed
        self.thinking = thinking
        self._ids: set[str] = set()
        self.input_tokens = input_tokens
        self.id = message_id()
        self.index = -1
        #: the open block: ("thinking" | "text" | "tool", its tool call index or None)
        self.open: tuple[str, int | None] | None = None
        #: the tool call streaming as it comes (the first of the answer), once one started
        self.live: int | None = None
        #: what came after it, held: [kind, its pieces, the tool call's id and name or None], in order
        self.held: list[list[Any]] = []
        #: the held tool calls: their index -> their entry in `held`
        self.held_calls: dict[int, list[Any]] = {}
        self.stop_reason = "end_turn"
        #: the open text or thinking block's delta events' first bytes
        self._head = b""

    def start(self) -> bytes:
        return event("message_start", {"message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": 0}}}) + event("ping", {})

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:  # (the hot path: a piece of text, most chunks' only field)
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and self.thinking and reasoning.__class__ is str:
                    out += self._piece(_THINKING, reasoning)
                text = delta.get("content")
                if text and text.__class__ is str:
                    out += self._piece(_TEXT, text)
                calls = delta.get("tool_calls")
                if calls:
                    for call in calls:
                        out += self._call(call)
            reason = choice.get("finish_reason")
            if reason:
                self.stop_reason = _STOP.get(reason, "end_turn")
        return out

    def finish(self, usage: Any) -> bytes:
        tokens = _usage(usage)
        if usage is None or not usage.input_tokens:  # (none from the provider: the estimate)
            tokens["input_tokens"] = self.input_tokens
        return self._close() + self._release() + event("message_delta", {
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": None}, "usage": tokens}) + event(
            "message_stop", {})

    @staticmethod
    def error(kind: str, message: str) -> bytes:
        return event("error", {"error": {"type": kind, "message": message}})

    def _piece(self, block: tuple[str, None], text: str) -> bytes:
        """A piece of text or thinking: its delta event, after its block's start if it is not open."""
        if self.live is not None:  # (held: the live tool call's block is open)
            kind = block[0]
            if self.held and self.held[-1][0] == kind:
                self.held[-1][1].append(text)
            else:
                self.held.append([kind, [text], None])
            return b""
        out = b"" if self.open is block else self._to(
            block, {"type": "thinking", "thinking": "", "signature": ""} if block is _THINKING
            else {"type": "text", "text": ""})
        return out + self._head + orjson.dumps(text) + b"}}\n\n"

    def _call(self, call: dict[str, Any]) -> bytes:
        at = call.get("index", 0)
        function = call.get("function") or {}
        pieces = function.get("arguments")
        if self.live is None:
            self.live = at
            out = self._to(("tool", at), {"type": "tool_use", "id": tool_use_id(call.get("id"), self._ids),
                                          "name": function.get("name", ""), "input": {}})
        elif at == self.live:
            out = b""
        else:
            held = self.held_calls.get(at)
            if held is None:
                held = self.held_calls[at] = ["tool", [], [call.get("id"), function.get("name", "")]]
                self.held.append(held)
            else:
                head = held[2]
                head[0], head[1] = head[0] or call.get("id"), head[1] or function.get("name", "")
            if pieces:
                held[1].append(pieces)
            return b""
        if pieces:
            out += self._delta({"type": "input_json_delta", "partial_json": pieces})
        return out

    def _release(self) -> bytes:
        """The held blocks, each whole."""
        out = b""
        for kind, pieces, head in self.held:
            joined = "".join(pieces)
            if kind == "tool":
                out += self._to(("tool", None), {"type": "tool_use", "id": tool_use_id(head[0], self._ids),
                                                 "name": head[1], "input": {}})
                if joined:
                    out += self._delta({"type": "input_json_delta", "partial_json": joined})
            elif kind == "thinking":
                out += self._to(_THINKING, {"type": "thinking", "thinking": "", "signature": ""})
                out += self._delta({"type": "thinking_delta", "thinking": joined})
            else:
                out += self._to(_TEXT, {"type": "text", "text": ""})
                out += self._delta({"type": "text_delta", "text": joined})
            out += self._close()
        self.held = []
        return out

    def _to(self, block: tuple[str, int | None], start: dict[str, Any]) -> bytes:
        if self.open == block:
            return b""
        out = self._close()
        self.index += 1
        self.open = block
        if block is _TEXT or block is _THINKING:  # each delta of the block: these bytes, its text, the end
            field = b'"thinking_delta","thinking":' if block is _THINKING else b'"text_delta","text":'
            self._head = (b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
                          b'"delta":{"type":%s' % (self.index, field))
        return out + event("content_block_start", {"index": self.index, "content_block": start})

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"index": self.index, "delta": delta})

    def _close(self) -> bytes:
        if self.open is None:
            return b""
        out = b""
        if self.open[0] == "thinking":  # (Anthropic's order: a thinking block's signature, then its stop)
            out = self._delta({"type": "signature_delta", "signature": self.signed})
        self.open = None
        return out + event("content_block_stop", {"index": self.index})
