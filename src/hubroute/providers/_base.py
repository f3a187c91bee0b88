"""The shape every provider adapter shares.

An adapter is a small, stateless object: it knows the provider's public API root, the route of each
task it serves, how the provider wants to be authenticated, and its quirks, declared as class
attributes (flags) rather than copied code. It builds requests and checks answers as pure functions:
no network I/O and no sleeping here; `hubroute.transport` does all I/O.

    build_chat(body, target)        -> HttpRequest    (OpenAI chat body in, provider body out)
    build_completion(body, target)  -> HttpRequest    (OpenAI /v1/completions)
    check_chat(data)                -> data           (validate / normalise a non-streamed answer)
    adapt_chunk(obj)                -> obj            (normalise one streamed chunk, if flagged)
    start_task(call, target)        -> Next           (any other task: the first step of the exchange,
                                                       see `steps`: submit, poll, download)
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import orjson

from hubroute import replayed, task_names
from hubroute.catalog import Pricing
from hubroute.errors import InvalidRequest, NotSupported, ProviderResponseError
from hubroute.inputs.spool import Blob
from hubroute.providers._completions import text_generation
from hubroute.providers.steps import Done, Next, TaskCall

#: the tasks of OpenAI's routes: /v1/chat/completions, /v1/completions, /v1/embeddings
CHAT = task_names.CONVERSATIONAL
TEXT_GENERATION = task_names.TEXT_GENERATION
EMBEDDINGS = task_names.FEATURE_EXTRACTION
#: the public Hub, when a deployment names no other (`huggingface.hub_url`, $HF_ENDPOINT)
DEFAULT_HUB_URL = "https://huggingface.co"

#: how `response_format: {type: json_schema, json_schema: {schema}}` is sent:
#:   native                   unchanged (OpenAI's shape)
#:   json_object              `{type: json_object}`; the schema is dropped (the provider has JSON mode only)
#:   json_object_with_schema  `{type: json_object, schema}`
#:   json_object_with_value   `{type: json_object, value: schema}` (TGI's grammar shape)
#:   flat_schema              `{type: json_schema, schema}`
JsonSchemaMode = Literal["native", "json_object", "json_object_with_schema", "json_object_with_value", "flat_schema"]


@dataclass(slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str]
    #: bytes, or a binary input sent as it is (a spooled upload goes in chunks, with its length)
    body: bytes | Blob | None = None
    stream: bool = False
    #: follow redirects (result downloads only: a provider's API answers are taken as they come)
    follow_redirects: bool = False


@dataclass(slots=True, frozen=True)
class Endpoint:
    """Where and how one provider is reached for this deployment.

    `base_url` is the root the adapter's routes are appended to: the provider's own API root for a
    direct call, or `{huggingface.base_url}/{provider}` when going through Hugging Face's router.
    `hub_url` is this deployment's Hugging Face Hub (`huggingface.hub_url`), for the Hub URLs an
    adapter sends a provider (LoRA weights).
    """

    base_url: str
    api_key: str | None
    via_hf: bool = False
    hub_url: str = DEFAULT_HUB_URL

    def __repr__(self) -> str:  # never print the key
        key = "***" if self.api_key else None
        return f"Endpoint(base_url={self.base_url!r}, via_hf={self.via_hf}, api_key={key})"


@dataclass(slots=True, frozen=True)
class Target:
    """One concrete candidate: this model, on this provider, under this provider id."""

    provider: Provider
    model: str
    provider_model: str
    task: str
    endpoint: Endpoint
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: what this provider charges for this model (the served mapping's catalog or config prices)
    pricing: Pricing | None = None
    #: the provider's name (read a dozen times per request: a field, not a property)
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.provider.name)


class Provider:
    """Base adapter. Subclasses mostly set class attributes; few override a method."""

    #: registry key, as Hugging Face names the provider
    name: ClassVar[str] = ""
    #: public API root for direct calls (None: reachable only through Hugging Face's router)
    base_url: ClassVar[str | None] = None
    #: environment variables that may hold the provider's own key, in order
    env_keys: ClassVar[tuple[str, ...]] = ()
    #: whether Hugging Face's router serves this provider (so an HF token reaches it)
    hf_routed: ClassVar[bool] = True
    #: task -> route appended to the endpoint's base_url; may contain {model}
    routes: ClassVar[dict[str, str]] = {CHAT: "/v1/chat/completions"}
    #: scheme of the Authorization header on direct calls ("Bearer", "Key", ...)
    auth_scheme: ClassVar[str] = "Bearer"
    #: headers every request to this provider carries
    extra_headers: ClassVar[dict[str, str]] = {}
    #: path prefixes a client sends to a router host without the `/{provider}` prefix (huggingface_hub
    #: builds some status URLs from the provider's own answer, and prefixes them only on HF's host)
    unprefixed_paths: ClassVar[tuple[str, ...]] = ()

    # --- quirks -------------------------------------------------------------------------------
    #: how `response_format: {type: json_schema}` must be sent
    json_schema_mode: ClassVar[JsonSchemaMode] = "native"
    #: the provider rejects `stream_options`; usage is still read from its last chunk
    drop_stream_options: ClassVar[bool] = False
    #: the provider's key for reasoning text when it is not `reasoning` (the field Hugging Face's
    #: router and huggingface_hub's types use); renamed to `reasoning` in answers and chunks
    reasoning_key: ClassVar[str | None] = None
    #: the field of an assistant message in which the provider takes its own model's earlier reasoning
    #: back (interleaved thinking between tool calls); None: it takes none, and reasoning a client
    #: sends back is dropped (`hubroute.replayed`)
    replays_reasoning: ClassVar[str | None] = None
    #: the provider takes only tool-call ids of exactly this many letters and digits (Mistral's models
    #: check them so); other ids in a conversation sent to it are rewritten, the same id always the
    #: same way, so that each call still meets its result (None: any id)
    tool_id_length: ClassVar[int | None] = None
    #: the route of OpenAI's Responses API, for a provider that speaks it itself (None: it does not,
    #: and `/v1/responses` is translated onto its chat route)
    responses_route: ClassVar[str | None] = None
    #: body keys the provider rejects, removed before sending
    unsupported_params: ClassVar[frozenset[str]] = frozenset()
    #: the wire shape of its feature-extraction route: OpenAI's /v1/embeddings, or HF's {"inputs"}
    embeddings_shape: ClassVar[Literal["openai", "hf"]] = "openai"

    def __init__(self, *, name: str | None = None, base_url: str | None = None) -> None:
        if name is not None:
            self.name = name  # type: ignore[misc]
        if base_url is not None:
            self.base_url = base_url  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<provider {self.name}>"

    # --- capabilities ---------------------------------------------------------------------------
    @property
    def tasks(self) -> frozenset[str]:
        return frozenset(self.routes)

    def supports(self, task: str) -> bool:
        return task in self.routes

    @property
    def rewrites_chunks(self) -> bool:
        """Whether streamed chunks must be parsed and rewritten (else they pass through untouched)."""
        return self.reasoning_key is not None

    def rewrites(self, task: str) -> bool:
        """Whether answers and streamed chunks of `task` must be parsed and rewritten (`adapt_chunk`,
        a re-encoded `check_chat` / `check_completion`), or may pass as they came."""
        return self.rewrites_chunks

    def env_api_key(self, environ: Mapping[str, str] = os.environ) -> str | None:
        for var in self.env_keys:
            value = environ.get(var)
            if value:
                return value
        return None

    # --- requests -------------------------------------------------------------------------------
    def route(self, task: str, target: Target) -> str:
        try:
            template = self.routes[task]
        except KeyError:
            raise NotSupported(f"Provider '{self.name}' does not support task '{task}'") from None
        return template.format(model=target.provider_model)

    def url(self, task: str, target: Target) -> str:
        return target.endpoint.base_url.rstrip("/") + self.route(task, target)

    def headers(self, target: Target) -> dict[str, str]:
        return {"content-type": "application/json", **self.auth_headers(target.endpoint)}

    def auth_headers(self, endpoint: Endpoint) -> dict[str, str]:
        """The provider's extra headers and its credential (always Bearer through HF's router)."""
        headers = dict(self.extra_headers)
        if endpoint.api_key:
            scheme = "Bearer" if endpoint.via_hf else self.auth_scheme
            headers["authorization"] = f"{scheme} {endpoint.api_key}"
        return headers

    def passthrough_url(self, endpoint: Endpoint, route: str, query: str) -> str:
        """Where a provider-native request `/{provider}/{route}?{query}` (HF's router's form, as
        huggingface_hub sends it) goes on this endpoint. Overridden where HF's router encodes more
        than the path (fal-ai's `?_subdomain=queue` names another host when called directly)."""
        url = f"{endpoint.base_url.rstrip('/')}/{route}"
        return f"{url}?{query}" if query else url

    def build_chat(self, body: dict[str, Any], target: Target) -> HttpRequest:
        payload = dict(body)
        payload["model"] = target.provider_model
        for key in self.unsupported_params:
            payload.pop(key, None)
        if "response_format" in payload:
            payload["response_format"] = self.adapt_response_format(payload["response_format"])
        if self.drop_stream_options:
            payload.pop("stream_options", None)
        if self.tool_id_length is not None:
            payload["messages"] = _fitted_ids(payload.get("messages"), self.tool_id_length)
        if payload.pop(replayed.FLAG, False):
            payload["messages"] = replayed.for_provider(payload["messages"], self.name, target.provider_model,
                                                        self.replays_reasoning)
        self.adapt_chat_payload(payload, target)
        return HttpRequest(
            "POST",
            self.url(CHAT, target),
            self.headers(target),
            orjson.dumps(payload),
            stream=bool(payload.get("stream")),
        )

    def build_responses(self, body: dict[str, Any], target: Target) -> HttpRequest:
        """A Responses API request as the client sent it, to a provider that speaks the API itself."""
        if self.responses_route is None:
            raise NotSupported(f"Provider '{self.name}' does not speak the Responses API")
        payload = {**body, "model": target.provider_model}
        return HttpRequest("POST", target.endpoint.base_url.rstrip("/") + self.responses_route, self.headers(target),
                           orjson.dumps(payload), stream=bool(payload.get("stream")))

    def build_completion(self, body: dict[str, Any], target: Target) -> HttpRequest:
        payload = dict(body)
        payload["model"] = target.provider_model
        if self.drop_stream_options:
            payload.pop("stream_options", None)
        return HttpRequest(
            "POST",
            self.url(TEXT_GENERATION, target),
            self.headers(target),
            orjson.dumps(payload),
            stream=bool(payload.get("stream")),
        )

    def start_task(self, call: TaskCall, target: Target) -> Next:
        """The first step of a task request. The default speaks Hugging Face's task API (`{"inputs",
        "parameters"}`, a binary input alone as the raw body); text-generation over OpenAI's completions
        route (`_completions`); feature-extraction over OpenAI's /v1/embeddings when that is the
        provider's shape. Providers with their own API for a task override this (and usually
        dispatch on `call.task`)."""
        task = call.task
        if task == TEXT_GENERATION:  # every text-generation route is an OpenAI completions route
            return text_generation(self, call, target)
        if task == EMBEDDINGS and self.embeddings_shape == "openai":
            request: dict[str, Any] = {"input": call.inputs}
            if "dimensions" in call.fields:  # the one option OpenAI's embeddings API shares with HF's
                request["dimensions"] = call.fields["dimensions"]
            req = self.build_embeddings(request, target)
        else:
            body, content_type = call.hf_body()
            headers = self.headers(target)
            headers["content-type"] = content_type
            req = HttpRequest("POST", self.url(task, target), headers, body)
        return Next(req, lambda data: Done(self.task_answer(task, data)))

    def task_answer(self, task: str, data: Any) -> Any:
        """The provider's answer in the HF task's output shape (embeddings: a vector per input)."""
        if task == EMBEDDINGS and self.embeddings_shape == "openai":
            return [item["embedding"] for item in self.check_embeddings(data)["data"]]
        return data

    # --- embeddings (OpenAI's /v1/embeddings) -----------------------------------------------------
    def build_embeddings(self, body: dict[str, Any], target: Target) -> HttpRequest:
        if self.embeddings_shape == "hf":
            payload: dict[str, Any] = {"inputs": body["input"]}
        else:
            payload = {**body, "model": target.provider_model}
        return HttpRequest("POST", self.url(EMBEDDINGS, target), self.headers(target), orjson.dumps(payload))

    def check_embeddings(
        self, data: Any, *, inputs: Any = None, model: str = "", encoding: str = "float"
    ) -> dict[str, Any]:
        """The answer as OpenAI's embeddings object, checked; HF's nested lists are converted."""
        if self.embeddings_shape == "hf":
            return _openai_embeddings(self.name, data, inputs, model, encoding)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and isinstance(i.get("embedding"), (list, str)) for i in items
        ):
            raise ProviderResponseError(f"{self.name} answered embeddings without a 'data' list of embeddings",
                                        provider=self.name, status_code=200)
        answer: dict[str, Any] = data
        return answer

    def adapt_chat_payload(self, payload: dict[str, Any], target: Target) -> None:
        """Hook for the rare provider whose body differs beyond the flags. Mutates in place."""

    def adapt_response_format(self, fmt: Any) -> Any:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or self.json_schema_mode == "native":
            return fmt
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise InvalidRequest(
                "response_format.json_schema.schema must be an object", param="response_format"
            )
        schema = spec["schema"]
        if self.json_schema_mode == "json_object":
            return {"type": "json_object"}
        if self.json_schema_mode == "json_object_with_schema":
            return {"type": "json_object", "schema": schema}
        if self.json_schema_mode == "json_object_with_value":
            return {"type": "json_object", "value": schema}
        return {"type": "json_schema", "schema": schema}  # flat_schema

    # --- answers --------------------------------------------------------------------------------
    def check_chat(self, data: Any) -> Any:
        """Validate a non-streamed chat answer; rename quirky fields. Raises ProviderResponseError."""
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            raise ProviderResponseError(
                f"{self.name} answered 200 without a 'choices' list", provider=self.name, status_code=200,
                body=orjson.dumps(data)[:500].decode(errors="replace"),
            )
        if self.reasoning_key is not None:
            for choice in data["choices"]:
                message = choice.get("message") if isinstance(choice, dict) else None
                if isinstance(message, dict):
                    _rename(message, self.reasoning_key, "reasoning")
        return data

    def check_completion(self, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise ProviderResponseError(
                f"{self.name} answered 200 without a 'choices' list", provider=self.name, status_code=200
            )
        return data

    def adapt_chunk(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Normalise one streamed chunk. Called only when `rewrites(task)` is true."""
        if self.reasoning_key is not None:
            for choice in obj.get("choices") or ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                if isinstance(delta, dict):
                    _rename(delta, self.reasoning_key, "reasoning")
        return obj


def _openai_embeddings(provider: str, data: Any, inputs: Any, model: str, encoding: str) -> dict[str, Any]:
    """HF's feature-extraction answer (a vector, or a vector per input) as OpenAI's object; with
    `encoding="base64"`, each vector as little-endian float32 bytes in base64, as OpenAI sends it."""
    vectors = [data] if isinstance(inputs, str) else data
    if not isinstance(vectors, list) or not all(
        isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) for v in vectors
    ):
        raise ProviderResponseError(
            f"{provider} did not answer one pooled vector per input (a token-level model?)",
            provider=provider, status_code=200,
        )
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i,
             "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if encoding == "base64" else v}
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


def _rename(obj: dict[str, Any], old: str, new: str) -> None:
    if old in obj and new not in obj:
        obj[new] = obj.pop(old)


_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def fitted_id(given: str, length: int) -> str:
    """A tool-call id of `length` letters and digits: `given` if it is one, else one derived from it
    (the same for the same id)."""
    if len(given) == length and given.isascii() and given.isalnum():
        return given
    number = int.from_bytes(hashlib.blake2b(given.encode(), digest_size=16).digest(), "big")
    out = []
    for _ in range(length):
        number, digit = divmod(number, len(_ALNUM))
        out.append(_ALNUM[digit])
    return "".join(out)


def _fitted_ids(messages: Any, length: int) -> Any:
    """`messages` with every tool-call id (the assistant's calls, the tools' results) fitted."""
    if not isinstance(messages, list):
        return messages
    out = []
    for message in messages:
        if isinstance(message, dict) and message.get("tool_calls"):
            message = {**message, "tool_calls": [
                {**call, "id": fitted_id(str(call.get("id") or ""), length)} if isinstance(call, dict) else call
                for call in message["tool_calls"]]}
        elif isinstance(message, dict) and message.get("role") == "tool" and "tool_call_id" in message:
            message = {**message, "tool_call_id": fitted_id(str(message["tool_call_id"]), length)}
        out.append(message)
    return out
