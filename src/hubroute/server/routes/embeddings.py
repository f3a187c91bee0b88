"""POST /v1/embeddings: OpenAI's embeddings API over the feature-extraction task, with the same
provider choice and failover as chat. Providers with an OpenAI-shaped route get the body as it came
(model id swapped); Hugging Face's `{"inputs"}` shape is converted both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubroute.errors import InvalidRequest
from hubroute.routing import openai
from hubroute.server.asgi import Scope, parse_json_object, read_body
from hubroute.server.routes.chat import serve_openai

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord


def validate_embeddings(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"].strip():
        raise InvalidRequest("'model' is required and must be a non-empty string", param="model")
    inputs = body.get("input")
    if isinstance(inputs, str):
        if not inputs:
            raise InvalidRequest("'input' must not be empty", param="input")
    elif not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        raise InvalidRequest("'input' must be a non-empty string or a non-empty list of them", param="input")
    if body.get("encoding_format", "float") not in ("float", "base64"):
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    if "dimensions" in body and (not isinstance(body["dimensions"], int) or body["dimensions"] < 1):
        raise InvalidRequest("'dimensions' must be a positive integer", param="dimensions")


async def embeddings(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = parse_json_object(await read_body(receive, app.max_body, app.body_timeout))
    validate_embeddings(body)
    body.pop("stream", None)  # embeddings never stream: `stream: true` would ask the provider for a stream
    await serve_openai(app, ctx, receive, send, body, openai.EMBEDDINGS_API)
