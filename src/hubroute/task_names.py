"""Hugging Face's task names: every module spells a task through the constants here, never as a string.

The names are those of HF's Inference API and Inference Providers (the tasks huggingface_hub's
InferenceClient and @huggingface/inference call). HF spells chat two ways: `conversational` in the
Hub's inference-provider mappings (what the catalog, the Hub API, HF's router and huggingface_hub's
provider helpers say) and `chat-completion` in its task specs (huggingface.js packages/tasks). The
Hub's spelling is hubroute's; the other is an alias.

    canonical(task)     hubroute's name for a task, whichever spelling it came in (unknown names unchanged)
"""

from __future__ import annotations

from typing import Final

AUDIO_CLASSIFICATION: Final = "audio-classification"
AUDIO_TO_AUDIO: Final = "audio-to-audio"
AUTOMATIC_SPEECH_RECOGNITION: Final = "automatic-speech-recognition"
CONVERSATIONAL: Final = "conversational"
DOCUMENT_QUESTION_ANSWERING: Final = "document-question-answering"
FEATURE_EXTRACTION: Final = "feature-extraction"
FILL_MASK: Final = "fill-mask"
IMAGE_CLASSIFICATION: Final = "image-classification"
IMAGE_SEGMENTATION: Final = "image-segmentation"
IMAGE_TO_IMAGE: Final = "image-to-image"
IMAGE_TO_TEXT: Final = "image-to-text"
IMAGE_TO_VIDEO: Final = "image-to-video"
OBJECT_DETECTION: Final = "object-detection"
QUESTION_ANSWERING: Final = "question-answering"
SENTENCE_SIMILARITY: Final = "sentence-similarity"
SUMMARIZATION: Final = "summarization"
TABLE_QUESTION_ANSWERING: Final = "table-question-answering"
TABULAR_CLASSIFICATION: Final = "tabular-classification"
TABULAR_REGRESSION: Final = "tabular-regression"
TEXT_CLASSIFICATION: Final = "text-classification"
TEXT_GENERATION: Final = "text-generation"
TEXT_TO_IMAGE: Final = "text-to-image"
TEXT_TO_SPEECH: Final = "text-to-speech"
TEXT_TO_VIDEO: Final = "text-to-video"
TOKEN_CLASSIFICATION: Final = "token-classification"  # noqa: S105 (a task, not a token)
TRANSLATION: Final = "translation"
VISUAL_QUESTION_ANSWERING: Final = "visual-question-answering"
ZERO_SHOT_CLASSIFICATION: Final = "zero-shot-classification"
ZERO_SHOT_IMAGE_CLASSIFICATION: Final = "zero-shot-image-classification"

#: huggingface.js's name for chat (its spec's directory), an alias of CONVERSATIONAL
CHAT_COMPLETION: Final = "chat-completion"

#: every task, by hubroute's name
TASKS: Final = frozenset({
    AUDIO_CLASSIFICATION, AUDIO_TO_AUDIO, AUTOMATIC_SPEECH_RECOGNITION, CONVERSATIONAL, DOCUMENT_QUESTION_ANSWERING,
    FEATURE_EXTRACTION, FILL_MASK, IMAGE_CLASSIFICATION, IMAGE_SEGMENTATION, IMAGE_TO_IMAGE, IMAGE_TO_TEXT,
    IMAGE_TO_VIDEO, OBJECT_DETECTION, QUESTION_ANSWERING, SENTENCE_SIMILARITY, SUMMARIZATION,
    TABLE_QUESTION_ANSWERING, TABULAR_CLASSIFICATION, TABULAR_REGRESSION, TEXT_CLASSIFICATION, TEXT_GENERATION,
    TEXT_TO_IMAGE, TEXT_TO_SPEECH, TEXT_TO_VIDEO, TOKEN_CLASSIFICATION, TRANSLATION, VISUAL_QUESTION_ANSWERING,
    ZERO_SHOT_CLASSIFICATION, ZERO_SHOT_IMAGE_CLASSIFICATION,
})  # fmt: skip

#: another spelling of a task -> hubroute's name for it
ALIASES: Final = {CHAT_COMPLETION: CONVERSATIONAL}


def canonical(task: str) -> str:
    """hubroute's name for `task` (`chat-completion` -> `conversational`); any other name unchanged."""
    return ALIASES.get(task, task)
