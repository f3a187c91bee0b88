"""The router's HTTP routes, one module per group, and the table that declares them (`TABLE`).

A new API surface is one module here and one entry in the table: its method and path, the label it
is recorded under, and whether it needs a key, is metered and renders errors its own way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubroute.server.routes.chat import chat_completions, completions
from hubroute.server.routes.embeddings import embeddings
from hubroute.server.routes.media import audio_speech, audio_transcriptions, images_generations
from hubroute.server.routes.models import get_model, list_models
from hubroute.server.routes.ops import health, metrics
from hubroute.server.routes.passthrough import passthrough, provider_of
from hubroute.server.routes.tasks import run_task
from hubroute.server.table import Route, RouteTable

if TYPE_CHECKING:
    from hubroute.server.app import App


def _provider_native(app: App, path: str) -> bool:
    return provider_of(app, path) is not None


TABLE = RouteTable([
    Route("POST", "/v1/chat/completions", chat_completions, "chat", metered=True),
    Route("POST", "/chat/completions", chat_completions, "chat", metered=True),
    Route("POST", "/v1/completions", completions, "completions", metered=True),
    Route("POST", "/completions", completions, "completions", metered=True),
    Route("POST", "/v1/embeddings", embeddings, "embeddings", metered=True),
    Route("POST", "/embeddings", embeddings, "embeddings", metered=True),
    Route("POST", "/v1/images/generations", images_generations, "images", metered=True),
    Route("POST", "/v1/audio/speech", audio_speech, "speech", metered=True),
    Route("POST", "/v1/audio/transcriptions", audio_transcriptions, "transcriptions", metered=True),
    Route("POST", "/models/", run_task, "task", metered=True, prefix=True),
    Route("GET", "/v1/models", list_models, "models"),
    Route("GET", "/models", list_models, "models"),
    Route("GET", "/v1/models/", get_model, "model", prefix=True),
    Route("GET", "/models/", get_model, "model", prefix=True),
    Route("GET", "/health", health, "health", auth=False),
    Route("GET", "/metrics", metrics, "metrics"),
    # Hugging Face router's provider-native routes: /{provider}/{route}
    Route("POST", "/{provider}/...", passthrough, "passthrough", metered=True, match=_provider_native),
    Route("GET", "/{provider}/...", passthrough, "passthrough", metered=True, match=_provider_native),
])

__all__ = ["TABLE"]
