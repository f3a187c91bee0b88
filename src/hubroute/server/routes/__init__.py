"""The router's HTTP routes, one module per group."""

from hubroute.server.routes.chat import chat_completions, completions
from hubroute.server.routes.embeddings import embeddings
from hubroute.server.routes.media import audio_speech, audio_transcriptions, images_generations
from hubroute.server.routes.models import get_model, list_models
from hubroute.server.routes.ops import health, metrics
from hubroute.server.routes.passthrough import passthrough, provider_of
from hubroute.server.routes.tasks import run_task

__all__ = [
    "audio_speech",
    "audio_transcriptions",
    "chat_completions",
    "completions",
    "embeddings",
    "get_model",
    "health",
    "images_generations",
    "list_models",
    "metrics",
    "passthrough",
    "provider_of",
    "run_task",
]
