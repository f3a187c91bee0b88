"""feature-extraction: text in, embeddings out. Maps onto /v1/embeddings.

The spec (imported from text-embeddings-inference) puts the options at the top level of the
request next to `inputs`; there is no `parameters` object.
"""

from __future__ import annotations

from typing import Literal

from hubroute.types._base import Input

# TEI's spec spelled the enum "Left" / "Right"; the current HF spec spells it lowercase. Both are
# accepted and passed on unchanged.
FeatureExtractionInputTruncationDirection = Literal["left", "right", "Left", "Right"]


class FeatureExtractionInput(Input):
    #: the text, or texts, to embed
    inputs: str | list[str]
    #: spec default: true
    normalize: bool | None = None
    #: a key of the sentence-transformers `prompts` config; its text is prepended to every input
    prompt_name: str | None = None
    #: spec default: false
    truncate: bool | None = None
    #: spec default: "right"
    truncation_direction: FeatureExtractionInputTruncationDirection | None = None
    # Not in HF's spec: huggingface_hub's feature_extraction() sends these two for OpenAI-compatible
    # embedding endpoints, so they are accepted rather than refused as unknown.
    #: the number of dimensions of the embeddings
    dimensions: int | None = None
    #: the format of the embeddings the provider should send (the answer here is always floats)
    encoding_format: Literal["float", "base64"] | None = None


# A nested list (tensor) of floats. Its depth depends on the model and the input: one vector per
# text for sentence-transformers ([dim], [[dim], ...]), one per token otherwise ([[[dim]]],
# [[[[dim]]]] for a batch). Four levels cover every shape the HF Inference API returns.
FeatureExtractionOutput = list[float | list[float | list[float | list[float]]]]
