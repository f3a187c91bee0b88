"""The router's HTTP routes, one module per group."""

from hubroute.server.routes.chat import chat_completions, completions
from hubroute.server.routes.embeddings import embeddings
from hubroute.server.routes.models import get_model, list_models
from hubroute.server.routes.ops import health, metrics
from hubroute.server.routes.passthrough import passthrough, provider_of
from hubroute.server.routes.tasks import run_task

__all__ = [
    "chat_completions", "completions", "embeddings", "get_model", "health", "list_models", "metrics", "passthrough",
    "provider_of", "run_task",
]
