"""visual-question-answering: {image, question} in, answers with scores out."""

from __future__ import annotations

from typing import Any

from hubroute.types._base import Binary, Input, Output, Parameters


class VisualQuestionAnsweringInputData(Input):
    #: the image (URL, base64 or data URI, or raw bytes)
    image: Binary
    question: str


class VisualQuestionAnsweringParameters(Parameters):
    #: number of answers to return
    top_k: int | None = None


class VisualQuestionAnsweringInput(Input):
    inputs: VisualQuestionAnsweringInputData
    parameters: VisualQuestionAnsweringParameters | None = None


class VisualQuestionAnsweringOutputElement(Output):
    score: float
    answer: str | None = None


VisualQuestionAnsweringOutput = list[VisualQuestionAnsweringOutputElement]


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """huggingface_hub sends `{"inputs": <image>, "image": <image>, "question": ...}`; the spec's
    shape is `{"inputs": {"image", "question"}}`."""
    if "question" in raw and not isinstance(raw.get("inputs"), dict):
        raw = dict(raw)
        question = raw.pop("question")
        image = raw.pop("image", None)
        raw["inputs"] = {"image": raw.get("inputs") if image is None else image, "question": question}
    return raw
