"""OpenAI's Responses API over chat completions: requests, answers and streams translated.

    items = input_items(body)                        # the request's input as items, each with an id
    chat, dropped = to_chat(body, history + items)   # -> a chat completion request
    output, status, reason = from_chat(answer)       # a chat completion -> output items
    events = ResponseStream(response)                # chat chunks -> Responses events (SSE bytes)

Pure functions and a small state machine: no I/O. The server's `/v1/responses` route
(`server/routes/responses.py`) keeps the conversation (`store`, `previous_response_id`), sends the
chat request through the router (every chat provider, failover, metering) and answers with what
these make.

What is kept: `instructions`; `input` as a string or items (messages with `input_text`,
`input_image`, `output_text`; `developer` and `system` roles; `function_call`,
`function_call_output`, and `custom_tool_call` / `custom_tool_call_output` for freeform tools);
function tools (`namespace` tools flattened into their functions, named `namespace__function`),
custom (freeform) tools as a function taking one string `input`, and `tool_choice`;
`text.format` (`json_schema`, `json_object`) as `response_format`, whose providers' quirks chat
already handles; `reasoning.effort`; `max_output_tokens`, `temperature`, `top_p`,
`parallel_tool_calls`, `user` / `safety_identifier`. A provider's reasoning comes back as a reasoning
item whose `encrypted_content` names that provider and model; sent back, it goes to that provider if
it takes reasoning back and is dropped otherwise, never made text (`hubroute.replayed`). Call ids a
provider repeats within an answer are replaced (`call_id`). The hosted tools no chat provider runs
(`web_search`, `file_search`, ...) are left out: `tools_of` says which.

Remote MCP tools (`mcp`) are the router's to run (`server/routes/responses_mcp.py`): their tools join
`Tools` as functions of kind "mcp"; a call of one becomes an `mcp_call` item (`Tools.mcp_calls` keeps
the provider's id of the call and the function's name, for the next round's chat messages);
`ResponseStream` streams the `mcp_list_tools` and `mcp_call` items in OpenAI's order, a call's end
once it has run, across the rounds of one response. An `mcp_call` item sent back becomes the call
and its result.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from hubroute import replayed
from hubroute.errors import InvalidRequest
from hubroute.mcp_tools import public_tools, result_text

#: the hosted tools of OpenAI's own servers: no chat provider runs them, so they are left out
HOSTED_TOOLS = frozenset({"web_search", "web_search_preview", "web_search_2025_08_26", "file_search",
                          "code_interpreter", "image_generation", "computer_use_preview", "computer_use",
                          "local_shell", "shell", "apply_patch", "tool_search"})
#: items a client sends back from an earlier answer that mean nothing to a chat provider
_SKIPPED_ITEMS = frozenset({"reasoning", "web_search_call", "file_search_call", "image_generation_call",
                            "code_interpreter_call", "computer_call", "computer_call_output", "mcp_list_tools",
                            "mcp_approval_request", "mcp_approval_response", "compaction", "tool_search_call",
                            "tool_search_output"})
_EFFORTS = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "high"}
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}
#: the request fields a response object repeats, with their defaults
_ECHOED: dict[str, Any] = {"instructions": None, "max_output_tokens": None, "metadata": {}, "parallel_tool_calls": True,
           "previous_response_id": None, "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
           "truncation": "disabled", "user": None, "max_tool_calls": None, "service_tier": "default",
           "background": False}
#: the items that are calls the model made: made together, they join one assistant message
_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_CALLS = frozenset({"function_call", "custom_tool_call", "mcp_call"})
_CUSTOM_PARAMETERS = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}


def new_id(prefix: str) -> str:
    """A new id: 128 random bits (the random module's generator, seeded from the system's and again
    in each forked worker, spares a system call an id)."""
    return f"{prefix}_{random.getrandbits(128):032x}"


# --- requests ---------------------------------------------------------------------------------------
#: the request's fields of one type: (the type, what the error calls it)
_TYPED: dict[str, tuple[type, str]] = {
    "instructions": (str, "a string"), "previous_response_id": (str, "a string"), "store": (bool, "a boolean"),
    "stream": (bool, "a boolean"), "metadata": (dict, "an object"), "tools": (list, "a list"),
    "parallel_tool_calls": (bool, "a boolean"), "text": (dict, "an object"), "reasoning": (dict, "an object"),
    "user": (str, "a string")}


def check(body: dict[str, Any]) -> None:
    """The request's own fields, as the API defines them (InvalidRequest naming the first wrong one)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("model: a model name is required", param="model")
    for name, value in body.items():  # (in the request's order: the first wrong field is named)
        typed = _TYPED.get(name)
        if typed is not None and value is not None and not isinstance(value, typed[0]):
            raise InvalidRequest(f"{name}: {typed[1]} is required", param=name)
    if body.get("metadata"):
        _check_metadata(body["metadata"])
    for name in ("max_output_tokens", "max_tool_calls"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidRequest(f"{name}: a positive integer is required", param=name)
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise InvalidRequest(f"{name}: a number is required", param=name)
    for name, what in (("background", "background responses"), ("conversation", "conversations"),
                       ("prompt", "stored prompts")):
        if body.get(name):
            raise InvalidRequest(f"{name}: this router does not keep {what}; send the input itself", param=name)
    if body.get("input") is None:
        raise InvalidRequest("input: a string or a list of input items is required", param="input")


#: `metadata`, as the API bounds it: pairs, a key's characters, a value's
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512


def _check_metadata(metadata: dict[str, Any]) -> None:
    """At most 16 pairs of strings, keys of 64 characters at most and values of 512 (kept with a
    stored response: the bounds keep it small)."""
    if len(metadata) > METADATA_PAIRS:
        raise InvalidRequest(f"metadata: at most {METADATA_PAIRS} pairs ({len(metadata)} given)", param="metadata")
    for key, value in metadata.items():
        if len(key) > METADATA_KEY:
            raise InvalidRequest(f"metadata: a key of at most {METADATA_KEY} characters ({len(key)} given)",
                                 param="metadata")
        if not isinstance(value, str) or len(value) > METADATA_VALUE:
            raise InvalidRequest(f"metadata.{key[:METADATA_KEY]}: a string of at most {METADATA_VALUE} characters",
                                 param="metadata")


def input_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's `input` as items, messages' content as lists of parts, each item with an id."""
    given = body["input"]
    if isinstance(given, str):
        return [_message_item("user", [{"type": "input_text", "text": given}])]
    if not isinstance(given, list):
        raise InvalidRequest("input: a string or a list of input items is required", param="input")
    items: list[dict[str, Any]] = []
    for i, item in enumerate(given):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: an input item (an object)", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise InvalidRequest(f"{where}.role: 'user', 'assistant', 'system' or 'developer'", param=where)
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
            elif not isinstance(content, list):
                raise InvalidRequest(f"{where}.content: a string or a list of content parts", param=where)
            items.append(_message_item(role, content, item.get("id")))
        elif kind in ("function_call", "custom_tool_call"):
            if not isinstance(item.get("call_id"), str) or not isinstance(item.get("name"), str):
                raise InvalidRequest(f"{where}: a {kind} needs a call_id and a name", param=where)
            items.append({**item, "id": item.get("id") or new_id("fc" if kind == "function_call" else "ctc")})
        elif kind == "mcp_call":
            if not isinstance(item.get("name"), str):
                raise InvalidRequest(f"{where}: an mcp_call needs the name of its tool", param=where)
            items.append({**item, "id": item.get("id") or new_id("mcp")})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            if not isinstance(item.get("call_id"), str):
                raise InvalidRequest(f"{where}: a {kind} needs the call_id of its call", param=where)
            items.append({**item, "id": item.get("id") or new_id("fco")})
        elif kind in _SKIPPED_ITEMS:
            items.append(item)
        elif kind == "item_reference":
            raise InvalidRequest(f"{where}: item references are not supported; send the item itself", param=where)
        else:
            raise InvalidRequest(f"{where}: unknown input item type {kind!r}", param=where)
    return items


def _message_item(role: str, content: list[Any], item_id: Any = None) -> dict[str, Any]:
    return {"id": item_id if isinstance(item_id, str) else new_id("msg"), "type": "message", "role": role,
            "content": content}


@dataclass
class Tools:
    """The request's tools as chat takes them, and how to name their calls back."""

    chat: list[dict[str, Any]] = field(default_factory=list)
    #: chat function name -> ("function" | "custom", the name the client gave it, its namespace or None),
    #: or ("mcp", the MCP tool's name, its server's label)
    names: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    #: the hosted tools left out (no chat provider runs them)
    dropped: list[str] = field(default_factory=list)
    #: an `mcp_call` item's id -> the provider's id of the call, and the chat function it called
    mcp_calls: dict[str, tuple[str, str]] = field(default_factory=dict)

    def call_item(self, call_id: str, name: str, arguments: str, item_id: str | None = None) -> dict[str, Any]:
        """The output item for a provider's call of `name`: a function call, a custom tool call, or the
        call of an MCP tool (to be run: `in_progress`)."""
        kind, given, namespace = self.names.get(name, ("function", name, None))
        if kind == "mcp":
            item_id = item_id or new_id("mcp")
            self.mcp_calls[item_id] = (call_id, name)
            return {"id": item_id, "type": "mcp_call", "status": "in_progress", "server_label": namespace,
                    "name": given, "arguments": arguments, "output": None, "error": None,
                    "approval_request_id": None}
        if kind == "custom":
            return {"id": item_id or new_id("ctc"), "type": "custom_tool_call", "status": "completed",
                    "call_id": call_id, "name": given, "input": _custom_input(arguments)}
        item = {"id": item_id or new_id("fc"), "type": "function_call", "status": "completed",
                "call_id": call_id, "name": given, "arguments": arguments}
        if namespace:
            item["namespace"] = namespace
        return item


def tools_of(body: dict[str, Any]) -> Tools:
    tools = Tools()
    for i, tool in enumerate(body.get("tools") or []):
        where = f"tools.{i}"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            tools.chat.append(_function(tool, where, tools, None))
        elif kind == "namespace":
            for j, inner in enumerate(tool.get("tools") or []):
                if isinstance(inner, dict) and inner.get("type", "function") == "function":
                    tools.chat.append(_function(inner, f"{where}.tools.{j}", tools, str(tool.get("name") or "")))
        elif kind == "custom":
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise InvalidRequest(f"{where}: a custom tool with a name", param=where)
            tools.names[name] = ("custom", name, None)
            description = str(tool.get("description") or "")
            tools.chat.append({"type": "function", "function": {
                "name": name, "parameters": _CUSTOM_PARAMETERS,
                "description": (description + "\n" if description else "")
                + "Takes one string, `input`: the tool's whole input, as free text."}})
        elif kind == "mcp":
            continue  # (run by the router itself: server/routes/responses_mcp.py)
        elif kind in HOSTED_TOOLS:
            tools.dropped.append(kind)
        else:
            raise InvalidRequest(f"{where}: unknown tool type {kind!r}", param=where)
    return tools


def _function(tool: dict[str, Any], where: str, tools: Tools, namespace: str | None) -> dict[str, Any]:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest(f"{where}: a function tool with a name", param=where)
    chat_name = f"{namespace}__{name}" if namespace else name
    tools.names[chat_name] = ("function", name, namespace)
    function: dict[str, Any] = {"name": chat_name,
                                "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = bool(tool["strict"])
    return {"type": "function", "function": function}


def _custom_input(arguments: str) -> str:
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return arguments
    return str(value.get("input", "")) if isinstance(value, dict) else str(value)


def to_chat(body: dict[str, Any], items: list[dict[str, Any]], tools: Tools) -> dict[str, Any]:
    """The chat completion request for a Responses request over `items` (the earlier turns', then its own)."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    results: list[dict[str, Any]] = []  # the results of the router's MCP calls: after the calls made with them
    shown: list[dict[str, Any]] = []  # the images tools gave: the user's turn after their outputs
    for i, item in enumerate(items):
        if results and item.get("type") not in _CALLS:
            messages += results
            results = []
        if shown and item.get("type") not in _OUTPUTS:
            messages.append({"role": "user", "content": shown})
            shown = []
        _add(messages, item, f"input.{i}", results, shown)
    messages += results
    if shown:
        messages.append({"role": "user", "content": shown})
    # (an assistant message made for reasoning alone, that no provider takes back, is no message)
    messages = [m for m in messages if m["role"] != "assistant" or m.get("content") is not None
                or m.get("tool_calls") or replayed.KEY in m]
    if not messages:
        raise InvalidRequest("input: no message to answer", param="input")
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    replayed.flag(chat)
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "stream", "top_logprobs"):
        if body.get(key) is not None:
            chat[key] = body[key]
    user = body.get("safety_identifier") or body.get("user")
    if isinstance(user, str):
        chat["user"] = user
    if tools.chat:
        chat["tools"] = tools.chat
        if body.get("parallel_tool_calls") is False:
            chat["parallel_tool_calls"] = False
        choice = _tool_choice(body.get("tool_choice"), tools)
        if choice is not None:
            chat["tool_choice"] = choice
    fmt = (body.get("text") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise InvalidRequest("text.format.schema: a JSON schema (an object) is required", param="text.format")
        schema = {"name": str(fmt.get("name") or "answer"), "schema": fmt["schema"]}
        if fmt.get("strict") is not None:
            schema["strict"] = bool(fmt["strict"])
        if fmt.get("description"):
            schema["description"] = fmt["description"]
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    effort = (body.get("reasoning") or {}).get("effort")
    if effort in _EFFORTS:
        chat["reasoning_effort"] = _EFFORTS[effort]
    return chat


def _add(messages: list[dict[str, Any]], item: dict[str, Any], where: str, results: list[dict[str, Any]],
         shown: list[dict[str, Any]]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = "system" if item["role"] == "developer" else item["role"]
        text, parts = _content(item["content"], where)
        if role == "assistant":
            said = _assistant(messages)
            said["content"] = (said["content"] or "") + text
        elif role == "system":
            messages.append({"role": "system", "content": text})
        else:
            messages.append({"role": "user", "content": parts if any(p["type"] != "text" for p in parts) else text})
    elif kind in ("function_call", "custom_tool_call"):
        name = item["name"]
        if kind == "function_call":
            namespace = item.get("namespace")
            name = f"{namespace}__{name}" if namespace else name
            arguments = item.get("arguments")
            arguments = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        else:
            arguments = orjson.dumps({"input": str(item.get("input", ""))}).decode()
        _assistant(messages).setdefault("tool_calls", []).append(
            {"id": item["call_id"], "type": "function", "function": {"name": name, "arguments": arguments}})
    elif kind == "mcp_call":  # a call the router ran: the call, then its result
        arguments = item.get("arguments")
        arguments = arguments if isinstance(arguments, str) and arguments else orjson.dumps(arguments or {}).decode()
        _assistant(messages).setdefault("tool_calls", []).append(
            {"id": item["id"], "type": "function", "function": {"name": item["name"], "arguments": arguments}})
        results.append({"role": "tool", "tool_call_id": item["id"], "content": result_text(item)})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        if isinstance(output, str):
            text = output
        else:  # (a chat provider's tool message is text: the output's images go in the user's turn after it)
            text, parts = _content(output or [], f"{where}.output")
            shown += [part for part in parts if part["type"] == "image_url"]
        messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": text})
    elif kind == "reasoning" and replayed.origin(item.get("encrypted_content")):
        # back to the provider that reasoned it, on the assistant message it came before (never text)
        parts = item.get("content") or item.get("summary") or []
        text = "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
        said = _assistant(messages)
        before = said.get(replayed.KEY)
        replayed.carry(said, (before["text"] + "\n" if before else "") + text, item["encrypted_content"])


def _assistant(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The assistant message the next assistant text or call joins: the last one, unless a tool's
    answer or a user's message came after it."""
    if not messages or messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "content": None})
    return messages[-1]


def _content(content: list[Any], where: str) -> tuple[str, list[dict[str, Any]]]:
    """A message's parts: its text, and its parts as chat takes them."""
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text", "summary_text", "reasoning_text"):
            texts.append(str(part.get("text", "")))
            parts.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "refusal":
            texts.append(str(part.get("refusal", "")))
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise InvalidRequest(f"{where}.content.{j}: an input_image needs an image_url (file ids are not "
                                     "kept by this router)", param=where)
            image: dict[str, Any] = {"url": url}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            raise InvalidRequest(f"{where}.content.{j}: input files are not supported by chat providers; send "
                                 "their text as input_text", param=where)
        else:
            raise InvalidRequest(f"{where}.content.{j}: unknown content part type {kind!r}", param=where)
    return "".join(texts) if len(texts) == 1 else "\n".join(texts), parts


def _tool_choice(choice: Any, tools: Tools) -> Any:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") in ("function", "custom") and isinstance(choice.get("name"),
                                                                                             str):
        name = next((chat for chat, (_, given, namespace) in tools.names.items() if given == choice["name"]
                     and namespace == choice.get("namespace")), choice["name"])
        return {"type": "function", "function": {"name": name}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return "required" if choice.get("mode") == "required" else "auto"
    if isinstance(choice, dict) and choice.get("type") in HOSTED_TOOLS | {"mcp"}:
        return "auto"
    raise InvalidRequest("tool_choice: 'auto', 'none', 'required' or a function tool", param="tool_choice")


# --- answers ----------------------------------------------------------------------------------------
def response(rid: str, body: dict[str, Any], *, status: str, output: list[dict[str, Any]] | None = None,
             usage: Any = None, created_at: int | None = None, error: dict[str, Any] | None = None,
             incomplete: str | None = None, stored: bool = True) -> dict[str, Any]:
    """A response object (`usage`: hubroute's `Usage`, the provider's or counted; None: not known yet)."""
    get = body.get
    fmt = (get("text") or {}).get("format") or {"type": "text"}
    reasoning = get("reasoning") or {}
    out: dict[str, Any] = {
        "id": rid, "object": "response", "created_at": created_at or int(time.time()), "status": status,
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "model": body["model"], "output": output or [],
        **{key: default if (value := get(key)) is None else value for key, default in _ECHOED.items()},
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": stored, "text": {"format": fmt}, "usage": usage_of(usage) if usage is not None else None,
    }
    if out["tools"]:
        out["tools"] = public_tools(out["tools"])
    return out


def usage_of(usage: Any) -> dict[str, Any]:
    inputs, outputs = usage.input_tokens or 0, usage.output_tokens or 0
    return {"input_tokens": inputs, "input_tokens_details": {"cached_tokens": usage.input_cached or 0},
            "output_tokens": outputs, "output_tokens_details": {"reasoning_tokens": usage.output_reasoning or 0},
            "total_tokens": inputs + outputs}


def from_chat(answer: dict[str, Any], tools: Tools, signed: str = "") -> tuple[list[dict[str, Any]], str, str | None]:
    """A chat completion's output items, the response's status and, when incomplete, why (`signed`:
    what signs its reasoning, `replayed.signature`)."""
    seen: set[str] = set()
    choice = (answer.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(new_id("rs"), reasoning, signed))
    if isinstance(message.get("content"), str) and message["content"]:
        output.append(message_item(new_id("msg"), message["content"]))
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        output.append({**message_item(new_id("msg"), ""),
                       "content": [{"type": "refusal", "refusal": message["refusal"]}]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        arguments = function.get("arguments")
        arguments = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
        output.append(tools.call_item(call_id(call.get("id"), seen), function.get("name", ""), arguments))
    reason = _INCOMPLETE.get(choice.get("finish_reason") or "")
    return output, "incomplete" if reason else "completed", reason


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def call_id(given: Any, seen: set[str]) -> str:
    """The call_id a client gets for a provider's tool call: the provider's, unless it is missing or
    another call of the answer has it (some servers number each answer's calls from 0): then a new
    one, so that every call meets its own output."""
    out = given if isinstance(given, str) and given and given not in seen else new_id("call")
    seen.add(out)
    return out


def reasoning_item(item_id: str, text: str, signed: str = "") -> dict[str, Any]:
    """A reasoning item; `signed` (`replayed.signature`) in its `encrypted_content`, so that sent back it
    returns to the provider that made it."""
    return {"id": item_id, "type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": text}],
            "encrypted_content": signed or None}


# --- streams ----------------------------------------------------------------------------------------
class ResponseStream:
    """OpenAI chat chunks in, the Responses API's events out, each with its `sequence_number`:
    `response.created`, `response.in_progress`; per output item `response.output_item.added`, its
    parts and deltas, `response.output_item.done`; then `response.completed`, `response.incomplete` or
    `response.failed`. One response id throughout; text and reasoning items end when another item
    starts, tool calls (whose arguments may arrive interleaved) when the answer ends.

    With MCP tools, an answer may take several rounds (chat streams) in one response: `listed` gives
    an `mcp_list_tools` item's events; a call of an MCP tool streams as an `mcp_call` item (added,
    `response.mcp_call.in_progress`, its arguments' deltas); `end_round` ends the round's items (the
    calls' `response.mcp_call_arguments.done` included) and `called` ends each call once it has run
    (`response.mcp_call.completed` or `.failed`, then the item whole); the next round's chunks
    continue the same output."""

    def __init__(self, snapshot: dict[str, Any], tools: Tools, signed: str = "") -> None:
        #: what signs the reasoning of the provider streaming now (`replayed.signature`)
        self.signed = signed
        self._ids: set[str] = set()
        #: the response object as `response.created` gave it (its id, echoed fields)
        self.snapshot = snapshot
        self.tools = tools
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        #: the open text or reasoning item: (its output index, "text" | "reasoning")
        self.open: tuple[int, str] | None = None
        #: the tool calls of the answer: provider's call index -> output index
        self.calls: dict[int, int] = {}
        #: their arguments so far, by output index
        self._arguments: dict[int, list[str]] = {}
        self.reason: str | None = None
        #: where the current round's items begin in `output`
        self.round = 0
        #: the output indices of the MCP calls whose arguments are done and whose run has not ended
        self.pending: list[int] = []
        #: the open text or reasoning item's text so far, and its delta events' first bytes
        self._pieces: list[str] = []
        self._head = b""

    def start(self) -> bytes:
        snapshot = orjson.dumps(self.snapshot)  # (once, for both)
        out = b""
        for kind in ("response.created", "response.in_progress"):
            out += (b"event: " + kind.encode() + b'\ndata: {"type":"' + kind.encode() + b'","sequence_number":'
                    + str(self.sequence).encode() + b',"response":' + snapshot + b"}\n\n")
            self.sequence += 1
        return out

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta")
            if delta:  # (the hot path: a piece of text, most chunks' only field)
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning and reasoning.__class__ is str:
                    out += self._text("reasoning", reasoning)
                text = delta.get("content")
                if text and text.__class__ is str:
                    if self.open is not None and self.open[1] == "text":  # (its item open: its delta)
                        self._pieces.append(text)
                        self.sequence += 1
                        out += b'%s%d,"delta":%s}\n\n' % (self._head, self.sequence - 1, orjson.dumps(text))
                    else:
                        out += self._text("text", text)
                calls = delta.get("tool_calls")
                if calls:
                    for call in calls:
                        out += self._call(call)
            reason = choice.get("finish_reason")
            if reason:
                self.reason = _INCOMPLETE.get(reason)
        return out

    def close_items(self) -> bytes:
        """The events that end the items still open (`final` then holds them whole); MCP calls not run
        end `incomplete`."""
        out = self._close_all()
        return out + self._close_pending() if self.pending else out

    def finish(self, usage: Any, *, stored: bool = True) -> bytes:
        """The end of a stream that finished: `response.completed`, or `response.incomplete` and why."""
        out = self.close_items()
        kind = "response.incomplete" if self.reason else "response.completed"
        return out + self._event(kind, response=self.final(usage, stored=stored))

    def failed(self, usage: Any, code: str, message: str, *, stored: bool = True) -> bytes:
        """The end of a stream cut by an error: its items closed as they were, then `response.failed`."""
        out = self.close_items()
        return out + self._event("response.failed", response=self.final(
            usage, error={"code": code, "message": message}, stored=stored))

    def final(self, usage: Any, *, error: dict[str, Any] | None = None, stored: bool = True) -> dict[str, Any]:
        status = "failed" if error else "incomplete" if self.reason else "completed"
        return {**self.snapshot, "status": status, "output": self.output, "error": error,
                "incomplete_details": {"reason": self.reason} if self.reason and not error else None,
                "usage": usage_of(usage) if usage is not None else None, "store": stored}

    # --- MCP tools: their listings, and their calls run between rounds ---------------------------------
    def listed(self, item: dict[str, Any]) -> bytes:
        """The events of an `mcp_list_tools` item: the tools listed before the first round, or why not."""
        index = len(self.output)
        self.output.append(item)
        self.round = len(self.output)
        added = {**{key: value for key, value in item.items() if key != "error"}, "tools": []}
        out = self._event("response.output_item.added", output_index=index, item=added)
        out += self._event("response.mcp_list_tools.in_progress", item_id=item["id"], output_index=index)
        ended = "failed" if item.get("error") else "completed"
        out += self._event(f"response.mcp_list_tools.{ended}", item_id=item["id"], output_index=index)
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def calling_mcp(self) -> bool:
        """Whether the round's answer calls an MCP tool (asked before `end_round`)."""
        return any(self.output[index]["type"] == "mcp_call" for index in self.calls.values())

    def end_round(self) -> bytes:
        """The events that end the round's items; its MCP calls wait in `pending` to be run."""
        return self._close_all()

    def round_items(self) -> list[dict[str, Any]]:
        """The items of the current round."""
        return self.output[self.round:]

    def next_round(self) -> None:
        self.round = len(self.output)

    def called(self, index: int) -> bytes:
        """The end of a pending MCP call whose item has its `status`, `output` and `error`: completed or
        failed, then the item whole (a call not run, `incomplete`, only the item)."""
        item = self.output[index]
        self.pending.remove(index)
        out = b""
        if item["status"] in ("completed", "failed"):
            out = self._event(f"response.mcp_call.{item['status']}", item_id=item["id"], output_index=index)
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _close_pending(self) -> bytes:
        out = b""
        for index in list(self.pending):
            self.output[index]["status"] = "incomplete"
            out += self.called(index)
        return out

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = orjson.dumps({"type": kind, "sequence_number": self.sequence, **data})
        self.sequence += 1
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), payload)

    def _text(self, kind: str, text: str) -> bytes:
        out = b""
        if self.open is None or self.open[1] != kind:
            out += self._close_open()
            index = len(self.output)
            item_id = new_id("rs" if kind == "reasoning" else "msg")
            item: dict[str, Any] = ({"id": item_id, "type": "reasoning", "summary": [], "content": [],
                                     "encrypted_content": self.signed or None}
                                    if kind == "reasoning"
                                    else {"id": item_id, "type": "message", "status": "in_progress",
                                          "role": "assistant", "content": []})
            self.output.append(item)
            self.open = (index, kind)
            part: dict[str, Any] = ({"type": "reasoning_text", "text": ""} if kind == "reasoning"
                                    else {"type": "output_text", "text": "", "annotations": [], "logprobs": []})
            out += self._event("response.output_item.added", output_index=index, item=item)
            item["content"].append(part)
            out += self._event("response.content_part.added", item_id=item_id, output_index=index,
                               content_index=0, part=part)
            # each delta of the item: these bytes around its sequence number and its text (the hot path)
            name = "response.reasoning_text.delta" if kind == "reasoning" else "response.output_text.delta"
            logprobs = "" if kind == "reasoning" else '"logprobs":[],'
            self._head = (f'event: {name}\ndata: {{"type":"{name}","item_id":"{item_id}","output_index":{index},'
                          f'"content_index":0,{logprobs}"sequence_number":').encode()
            self._pieces = []
        self._pieces.append(text)
        self.sequence += 1
        return b'%s%s%d,"delta":%s}\n\n' % (out, self._head, self.sequence - 1, orjson.dumps(text))

    def _call(self, call: dict[str, Any]) -> bytes:
        out = b""
        at = call.get("index", 0)
        function = call.get("function") or {}
        if at not in self.calls:
            out += self._close_open()
            index = len(self.output)
            self.calls[at] = index
            item = self.tools.call_item(call_id(call.get("id"), self._ids), function.get("name") or "", "")
            item["status"] = "in_progress"
            self.output.append(item)
            self._arguments[index] = []
            out += self._event("response.output_item.added", output_index=index, item=item)
            if item["type"] == "mcp_call":
                out += self._event("response.mcp_call.in_progress", item_id=item["id"], output_index=index)
        index = self.calls[at]
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            self._arguments[index].append(piece)
            kind = self.output[index]["type"]
            if kind == "function_call":  # (a custom tool's input: its arguments' one field)
                out += self._event("response.function_call_arguments.delta", item_id=self.output[index]["id"],
                                   output_index=index, delta=piece)
            elif kind == "mcp_call":
                out += self._event("response.mcp_call_arguments.delta", item_id=self.output[index]["id"],
                                   output_index=index, delta=piece)
        return out

    def _close_open(self) -> bytes:
        if self.open is None:
            return b""
        index, kind = self.open
        self.open = None
        item = self.output[index]
        part = item["content"][0]
        part["text"] = "".join(self._pieces)
        if kind == "reasoning":
            out = self._event("response.reasoning_text.done", item_id=item["id"], output_index=index,
                              content_index=0, text=part["text"])
        else:
            out = self._event("response.output_text.done", item_id=item["id"], output_index=index,
                              content_index=0, text=part["text"], logprobs=[])
            item["status"] = "completed"
        out += self._event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                           part=part)
        return out + self._event("response.output_item.done", output_index=index, item=item)

    def _close_all(self) -> bytes:
        out = self._close_open()
        for index in sorted(self.calls.values()):
            item = self.output[index]
            arguments = "".join(self._arguments.pop(index))
            if item["type"] == "mcp_call":  # ended once it has run (`called`)
                item["arguments"] = arguments
                out += self._event("response.mcp_call_arguments.done", item_id=item["id"], output_index=index,
                                   arguments=arguments)
                self.pending.append(index)
                continue
            item["status"] = "completed"
            if item["type"] == "function_call":
                item["arguments"] = arguments
                out += self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                   name=item["name"], arguments=arguments)
            else:
                item["input"] = _custom_input(arguments)
                out += self._event("response.custom_tool_call_input.delta", item_id=item["id"], output_index=index,
                                   delta=item["input"])
                out += self._event("response.custom_tool_call_input.done", item_id=item["id"], output_index=index,
                                   input=item["input"])
            out += self._event("response.output_item.done", output_index=index, item=item)
        self.calls = {}
        return out
