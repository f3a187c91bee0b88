"""GET /openapi.json: the router's OpenAPI 3.1 document, built from the route table alone.

Every `Route` carries a `Doc` (summary, request body, answer, query parameters, the OpenAPI paths a
prefix or predicate route serves); this module turns the table into the document, so the document
cannot drift from what is served. The schemas are the ones the router validates with:

- the HF task API: the task types of `hubroute.types` (msgspec Structs), through
  `msgspec.json.schema_components`; the answers with the variants `types.parse_output` accepts
  (a one-element list for list-wrapped tasks, a batch of one, a single element), as they are relayed;
- OpenAI's chat, completions and embeddings bodies: written here to accept exactly what
  `routes/validate.py` and `routes/embeddings.py` accept (required fields, types, bounds); their
  answers in OpenAI's shapes, loosely (more properties allowed: providers add their own);
- every 4xx and 5xx of the router's own: `{"error": {"message", "type", "code", "param"?}}`.

The document is built on the first request and kept (encoded) for the life of the process: no
start-up cost, and no cost after the first.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from hubroute import __version__
from hubroute.server.asgi import Scope, send_bytes

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord
    from hubroute.server.table import Doc, Route, RouteTable

Schema = dict[str, Any]
#: a schema, or a function that makes one (called once, when the document is built)
SchemaSource = Schema | Callable[[], Schema]

REF = "#/components/schemas/{name}"


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _ref(name: str) -> Schema:
    return {"$ref": REF.format(name=name)}


NON_EMPTY = {"type": "string", "pattern": r"\S"}


def _model(example: str) -> Schema:
    return {**NON_EMPTY, "description": "A Hub model id (`org/model`), optionally with `:provider`, `:fastest`, "
            "`:cheapest` or `:preferred`, or an alias from the config.", "examples": [example]}


MODEL = _model("meta-llama/Llama-3.3-70B-Instruct")

# --- errors -------------------------------------------------------------------------------------

#: Anthropic's error body (the /v1/messages routes)
ANTHROPIC_ERROR: Schema = {
    "type": "object", "required": ["type", "error"],
    "properties": {"type": {"const": "error"}, "error": {
        "type": "object", "required": ["type", "message"],
        "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}},
}

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string"},
            "code": {"type": ["string", "null"]},
            "param": {"type": ["string", "null"]},
            "provider": {"type": ["string", "null"], "description": "The provider whose failure this is."},
            "provider_status": {"type": "integer"},
            "providers": {"type": "array", "description": "Each provider tried, and how it failed.", "items": {
                "type": "object", "required": ["provider", "code", "status", "error"], "properties": {
                    "provider": {"type": "string"},
                    "code": {"type": "string", "description": "The kind of failure: provider_timeout, "
                             "provider_connection_error, provider_bad_response, provider_http_error, circuit_open..."},
                    "status": {"type": ["integer", "null"],
                               "description": "The provider's HTTP status, if it answered."},
                    "error": {"type": "string"}}}},
        },
    }},
}

# --- OpenAI: chat and completions (routes/validate.py) -------------------------------------------

_INT = {"type": "integer"}
_NUM = {"type": "number"}
_OPENAI_FIELDS: dict[str, Schema] = {  # validate._TYPES: each may also be null
    "stream": {"type": "boolean"},
    "temperature": _NUM,
    "top_p": _NUM,
    "frequency_penalty": _NUM,
    "presence_penalty": _NUM,
    "max_tokens": {"type": "integer", "minimum": 1},
    "max_completion_tokens": _INT,
    "n": {"type": "integer", "minimum": 1},
    "seed": _INT,
    "stop": {"type": ["string", "array"]},
    "stream_options": {"type": "object", "description": "Only with `stream: true`."},
    "tools": {"type": "array", "items": {
        "type": "object", "required": ["function"],
        "properties": {"type": {"type": "string"}, "function": {
            "type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}},
    }},
    "tool_choice": {"type": ["string", "object"]},
    "response_format": {"type": "object"},
    "logit_bias": {"type": "object"},
    "user": {"type": "string"},
}
#: `stream_options` is refused unless `stream` is true
_STREAM_OPTIONS_NEED_STREAM: Schema = {
    "if": {"required": ["stream_options"], "properties": {"stream_options": {"type": "object"}}},
    "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
}


def _openai_request(required: dict[str, Schema], extra: Mapping[str, Schema] = {}) -> Schema:
    properties = {"model": MODEL, **required, **{k: _nullable(v) for k, v in _OPENAI_FIELDS.items()}, **extra}
    return {"type": "object", "required": ["model", *required], "properties": properties,
            "additionalProperties": True, **_STREAM_OPTIONS_NEED_STREAM}


_ROLES = ["assistant", "developer", "function", "system", "tool", "user"]
_MESSAGE: Schema = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": _ROLES},
        "content": {"anyOf": [{"type": "null"}, {"type": "string"}, {"type": "array", "items": {
            "type": "object", "required": ["type"], "properties": {"type": {"type": "string"}}}}]},
    },
}
#: response_format: OpenAI's types, and TGI's grammar (`{type: json | json_object, value: schema}`)
_RESPONSE_FORMAT: Schema = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": ["json", "json_object", "json_schema", "regex", "text"]}},
    "if": {"properties": {"type": {"const": "json_schema"}}},
    "then": {"required": ["json_schema"], "properties": {"json_schema": {"type": "object"}}},
}

CHAT_REQUEST = _openai_request(
    {"messages": {"type": "array", "minItems": 1, "items": _MESSAGE}},
    {"response_format": _nullable(_RESPONSE_FORMAT)},
)
COMPLETION_REQUEST = _openai_request({"prompt": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1}]}})

_USAGE: Schema = {"type": "object", "properties": {
    "prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT}}
CHAT_RESPONSE: Schema = {
    "type": "object",
    "required": ["choices"],
    "properties": {
        "id": {"type": "string"}, "object": {"type": "string"}, "created": _INT, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": _INT,
            "message": {"type": "object", "properties": {"role": {"type": "string"},
                                                         "content": {"type": ["string", "null"]}}},
            "finish_reason": {"type": ["string", "null"]}}}},
        "usage": _nullable(_USAGE),
    },
}
COMPLETION_RESPONSE: Schema = {
    "type": "object",
    "required": ["choices"],
    "properties": {
        "id": {"type": "string"}, "object": {"type": "string"}, "created": _INT, "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": _INT, "text": {"type": "string"}, "finish_reason": {"type": ["string", "null"]}}}},
        "usage": _nullable(_USAGE),
    },
}
#: one server-sent event: `data: <chunk JSON>` each, then `data: [DONE]` (or one OpenAI-shaped error event)
SSE: Schema = {"type": "object", "required": ["data"], "description": "One server-sent event of the stream: a chunk's "
               "JSON, then `[DONE]`, or one OpenAI-shaped error.",
               "properties": {"data": {"type": "string"}, "event": {"type": "string"}, "id": {"type": "string"}}}

# --- OpenAI: embeddings (routes/embeddings.py) ---------------------------------------------------

EMBEDDINGS_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": _model("BAAI/bge-base-en-v1.5"),
        "input": {"anyOf": [{"type": "string", "minLength": 1},
                            {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}]},
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": True,
}
EMBEDDINGS_RESPONSE: Schema = {
    "type": "object",
    "required": ["data"],
    "properties": {
        "object": {"type": "string"}, "model": {"type": "string"}, "usage": _nullable(_USAGE),
        "data": {"type": "array", "items": {"type": "object", "required": ["embedding"], "properties": {
            "object": {"type": "string"}, "index": _INT,
            "embedding": {"type": ["array", "string"], "description": "floats, or base64"}}}},
    },
}

# --- OpenAI: media (routes/media.py) -------------------------------------------------------------

IMAGES_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": _model("black-forest-labs/FLUX.1-dev"),
        "prompt": NON_EMPTY,
        "n": {"type": "integer", "minimum": 1, "maximum": 10},
        "response_format": _nullable({"enum": ["b64_json", "url"]}),
        "size": _nullable({"type": "string", "pattern": r"^(auto|0*[1-9][0-9]*x0*[1-9][0-9]*)$",
                           "examples": ["1024x1024"]}),
        "negative_prompt": _nullable({"type": "string"}),
        "seed": _nullable(_INT),
        "num_inference_steps": _nullable(_INT),
        "guidance_scale": _nullable(_NUM),
    },
    "additionalProperties": True,
}
IMAGES_RESPONSE: Schema = {
    "type": "object",
    "required": ["created", "data"],
    "properties": {"created": _INT, "data": {"type": "array", "items": {"type": "object", "properties": {
        "b64_json": {"type": "string"}, "url": {"type": "string"}}}}},
}
SPEECH_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {"model": _model("hexgrad/Kokoro-82M"), "input": NON_EMPTY, "voice": {}, "speed": {},
                   "response_format": {}, "instructions": {}},
    "additionalProperties": True,
}
TRANSCRIPTION_REQUEST: Schema = {
    "type": "object",
    "required": ["model", "file"],
    "properties": {
        "model": _model("openai/whisper-large-v3"),
        "file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
        "response_format": {"enum": ["json", "text", "verbose_json"]},
        "language": {"type": "string"},
        "prompt": {"type": "string"},
        "temperature": {"type": "string"},
    },
}
TRANSCRIPTION_RESPONSE: Schema = {"type": "object", "required": ["text"], "properties": {
    "text": {"type": "string"}, "task": {"type": "string"}, "language": {"type": "string"},
    "segments": {"type": "array", "items": {"type": "object"}}}}
BINARY: Schema = {"type": "string", "format": "binary"}
#: a 1x1 PNG, the example of image inputs
PIXEL = ("data:image/png;base64,"
         "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
MEDIA_ANSWER: dict[str, SchemaSource] = {"image/*": BINARY, "audio/*": BINARY, "video/*": BINARY}

# --- models, operations --------------------------------------------------------------------------

MODEL_CARD: Schema = {
    "type": "object",
    "required": ["id", "object", "providers"],
    "properties": {
        "id": {"type": "string"}, "object": {"const": "model"}, "created": _INT, "owned_by": {"type": "string"},
        "task": {"type": "string"},
        "architecture": {"type": "object", "properties": {
            "input_modalities": {"type": "array", "items": {"type": "string"}},
            "output_modalities": {"type": "array", "items": {"type": "string"}}}},
        "providers": {"type": "array", "items": {"type": "object", "required": ["provider", "status"], "properties": {
            "provider": {"type": "string"}, "status": {"type": "string"}, "context_length": _INT,
            "pricing": {"type": "object", "additionalProperties": {"type": "number"}},
            "supports_tools": {"type": "boolean"}, "supports_structured_output": {"type": "boolean"}}}},
    },
}
MODEL_LIST: Schema = {"type": "object", "required": ["object", "data"], "properties": {
    "object": {"const": "list"}, "data": {"type": "array", "items": MODEL_CARD}}}
HEALTH: Schema = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string"}, "version": {"type": "string"}, "inflight": _INT,
    "open_circuits": {"type": "array", "items": {"type": "string"}}}}
METRICS: Schema = {"type": "string", "description": "Prometheus text exposition format."}
OPENAPI: Schema = {"type": "object", "required": ["openapi", "paths"]}
ANY: Schema = {}

# --- the HF task API (hubroute.types) ------------------------------------------------------------


def _deref(schema: Schema, components: dict[str, Schema]) -> Schema:
    """The component a schema refers to (`$ref`, or the one `$ref` of an optional's `anyOf`)."""
    ref = schema.get("$ref") or next((s["$ref"] for s in schema.get("anyOf", ()) if "$ref" in s), None)
    return components[ref.rsplit("/", 1)[1]] if ref else schema


@cache
def _task_schemas() -> tuple[dict[str, Schema], dict[str, Schema], dict[str, Schema]]:
    """Each task's request and answer schema (media answers: none), and the components they use.
    Chat is not a task of the task API (it is served at /v1/chat/completions)."""
    from hubroute import types

    specs = [s for s in types.TASKS.values() if s.input_type is not dict]
    typed = [s.input_type for s in specs] + [s.output_type for s in specs if s.binary_output is None]
    schemas, components = msgspec.json.schema_components(typed, ref_template=REF)
    inputs = dict(zip((s.task for s in specs), schemas, strict=False))
    outputs = dict(zip((s.task for s in specs if s.binary_output is None), schemas[len(specs):], strict=True))
    for spec in specs:  # binary fields (typed Any): in JSON, a string
        for path in spec.binary_fields:
            *parents, leaf = path.split(".")
            schema = _deref(inputs[spec.task], components)
            for part in parents:
                schema = _deref(schema["properties"][part], components)
            schema["properties"][leaf] = {"type": "string", "description": f"{spec.binary_input}: a URL, a data "
                                          "URI or base64-encoded data",
                                          **({"examples": [PIXEL]} if spec.binary_input == "image" else {})}
    answers: dict[str, Schema] = {}
    for spec in specs:
        if spec.binary_output is not None:
            continue
        base = outputs[spec.task]
        variants = [base]  # and what types.parse_output takes from HF's API, relayed as it came
        if spec.list_wrapped:
            variants.append({"type": "array", "items": base, "minItems": 1, "maxItems": 1})
        elif typing.get_origin(spec.output_type) is list and "$ref" in base.get("items", {}):
            variants += [{"type": "array", "items": base, "minItems": 1, "maxItems": 1}, base["items"]]
        answers[spec.task] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    return inputs, answers, components


def _task_form(binary_fields: tuple[str, ...], request: Schema) -> Schema:
    """A task request as a form (`routes/tasks.form_request`): `inputs` a file, or, for structured
    inputs, one field each (files for the binary ones, text for the rest); `parameters` as JSON text."""
    parameters = {"type": "string", "contentMediaType": "application/json",
                  "description": "The task's parameters, as JSON text."}
    if "inputs" in binary_fields:
        return {"type": "object", "required": ["inputs"], "additionalProperties": False,
                "properties": {"inputs": BINARY, "parameters": parameters}}
    components = _task_schemas()[2]
    structured = _deref(_deref(request, components)["properties"]["inputs"], components)
    binary = {path.removeprefix("inputs.") for path in binary_fields}
    fields = {name: BINARY if name in binary else {"type": "string"} for name in structured["properties"]}
    return {"type": "object", "required": list(structured.get("required", ())), "additionalProperties": False,
            "properties": {**fields, "parameters": parameters}}


def task_request() -> Schema:
    inputs = _task_schemas()[0]
    return {"anyOf": [inputs[t] for t in sorted(inputs)],
            "description": "The task's `<Task>Input`: `inputs` and the task's `parameters`."}


def task_answer() -> Schema:
    answers = _task_schemas()[1]
    return {"anyOf": [answers[t] for t in sorted(answers)], "description": "The task's `<Task>Output`."}


def task_param() -> Schema:
    return {"type": "string", "enum": sorted(_task_schemas()[0])}


@cache
def task_examples() -> dict[str, str]:
    """A model of the built-in catalog for each task: the examples of the task operations."""
    from hubroute.catalog import Catalog

    examples: dict[str, str] = {}
    for entry in Catalog.builtin():
        examples.setdefault(entry.task, entry.id)
    return examples


def task_operations() -> dict[str, Doc]:
    """`POST /models/{org}/{model}/pipeline/<task>`: one operation per task, with its own types."""
    from hubroute import types
    from hubroute.server.table import Doc

    inputs, answers, _ = _task_schemas()
    operations = {}
    for task in sorted(inputs):
        spec = types.TASKS[task]
        body: dict[str, SchemaSource] = {"application/json": inputs[task]}
        if spec.binary_input is not None:
            body["application/octet-stream"] = BINARY
            body["multipart/form-data"] = _task_form(spec.binary_fields, inputs[task])
        answer = {f"{spec.binary_output}/*": BINARY} if spec.binary_output else {"application/json": answers[task]}
        org, _, model = task_examples().get(task, "org/model").partition("/")
        operations[f"/models/{{org}}/{{model}}/pipeline/{task}"] = Doc(
            f"Run {task}", body=body, answer=answer, query={"provider": {"type": "string"}},
            examples={"org": org, "model": model})
    return operations


# --- the document --------------------------------------------------------------------------------

_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
_PATH_PARAM = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
_PATH_EXAMPLES = {"org": "meta-llama", "model": "Llama-3.3-70B-Instruct", "provider": "hf-inference",
                  "route": "models/BAAI/bge-base-en-v1.5", "user": "ada", "id": "k3v9x2m4q7ab"}


def _resolve(source: SchemaSource) -> Schema:
    return source() if callable(source) else source


def _content(media: Mapping[str, SchemaSource]) -> dict[str, Any]:
    return {kind: {"schema": _resolve(schema)} for kind, schema in media.items()}


def _path_parameters(path: str, examples: Mapping[str, str]) -> list[dict[str, Any]]:
    params = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            example = examples.get(name) or _PATH_EXAMPLES[name]
            schema = {"type": "string", "minLength": 1} if name == "route" else _PATH_PARAM  # route: a/b/c
            params.append({"name": name, "in": "path", "required": True, "schema": {**schema, "examples": [example]}})
    return params


def operation(route: Route, path: str, doc: Doc) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"{route.method.lower()}_{_slug(path)}", "summary": doc.summary,
                          "tags": [route.label]}
    if doc.description:
        op["description"] = doc.description
    params = _path_parameters(path, doc.examples) + [
        {"name": name, "in": "query", "required": False, "schema": _resolve(schema)}
        for name, schema in doc.query.items()
    ]
    if params:
        op["parameters"] = params
    if doc.body is not None:
        op["requestBody"] = {"required": True, "content": _content(doc.body)}
    if doc.relayed:  # the provider's own answer, whatever its status
        op["responses"] = {"default": {"description": "The provider's answer, relayed as it came, or an error "
                                                      "of the router's own in the error shape.",
                                       "content": {"*/*": {"schema": ANY}}}}
    else:
        error = {"description": "An error: `{\"error\": {\"message\", \"type\", \"code\", \"param\"?}}`.",
                 "content": {"application/json": {"schema": _ref("Error")}}}
        if doc.error is not None:
            error = {"description": "An error, in the shape of the API the route speaks.",
                     "content": {"application/json": {"schema": dict(doc.error)}}}
        op["responses"] = {str(doc.status): {"description": doc.summary, "content": _content(doc.answer)},
                           "4XX": error, "5XX": error}
    op["security"] = _SECURITY if route.auth else []
    return op


def _slug(path: str) -> str:
    return "_".join(p.strip("{}").replace(".", "_") for p in path.split("/") if p) or "root"


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in `routes`."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        assert route.doc is not None, f"{route.method} {route.path} has no Doc"
        docs = {path: route.doc for path in route.doc.paths or (route.path,)}
        if route.doc.more is not None:
            docs.update(route.doc.more())
        for path, doc in docs.items():
            paths.setdefault(path, {})[route.method.lower()] = operation(route, path, doc)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hubroute", "version": __version__,
                 "description": "One endpoint and one key for every model on every inference provider: "
                                "OpenAI's API and Hugging Face's task API, routed with failover."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, **_task_schemas()[2]},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "The master key or a key made with the admin API."},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
        },
    }


@cache
def _encoded(table: RouteTable) -> bytes:
    return orjson.dumps(document(table.routes))


async def openapi_json(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_bytes(send, ctx, 200, _encoded(app.routes))


__all__ = ["document", "openapi_json"]
