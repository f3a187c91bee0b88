"""Sub-structures that several task specs define identically.

HF's specs repeat these per task (`AutomaticSpeechRecognitionGenerationParameters`,
`ImageToTextGenerationParameters`, ...); the task modules re-export them under those names.
"""

from __future__ import annotations

from typing import Any, Literal

from hubroute.errors import InvalidRequest
from hubroute.types._base import Input, Parameters


class GenerationParameters(Parameters):
    """Parametrization of the text generation process (common-definitions.json)."""

    do_sample: bool | None = None
    early_stopping: bool | Literal["never"] | None = None
    epsilon_cutoff: float | None = None
    eta_cutoff: float | None = None
    max_length: int | None = None
    max_new_tokens: int | None = None
    min_length: int | None = None
    min_new_tokens: int | None = None
    num_beam_groups: int | None = None
    num_beams: int | None = None
    penalty_alpha: float | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    use_cache: bool | None = None


GENERATION_PARAMETER_NAMES = frozenset(GenerationParameters.__struct_fields__)

ClassificationOutputTransform = Literal["sigmoid", "softmax", "none"]


class TargetSize(Input):
    """The size in pixels of the output image or video frames."""

    width: int
    height: int


# Tabular tasks (no spec in huggingface.js/packages/tasks; shape from @huggingface/inference and
# the HF Inference API docs): {"inputs": {"data": {column: [value per row]}}}.
Cell = str | int | float | bool | None


class TabularInputData(Input):
    #: a table as columns: header -> one value per row; every column has the same length
    data: dict[str, list[Cell]]


def normalize_tabular(raw: dict[str, Any]) -> dict[str, Any]:
    """huggingface_hub sends `{"table": {...}}` at the top level; move it to `inputs.data`."""
    if "table" in raw and "inputs" not in raw:
        raw = dict(raw)
        raw["inputs"] = {"data": raw.pop("table")}
    return raw


def check_tabular(obj: Any) -> None:
    lengths = {len(column) for column in obj.inputs.data.values()}
    if len(lengths) > 1:
        raise InvalidRequest("'inputs.data' columns must all have the same length", param="inputs.data")
