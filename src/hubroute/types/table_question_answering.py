"""table-question-answering: {query, table} in, answers (cells, coordinates, aggregator) out.

The spec names the question `question`; HF's Inference API, huggingface_hub and
@huggingface/inference all send `query`. `query` is the field here (it is what providers expect),
and a request with the spec's `question` is accepted and renamed. huggingface_hub also puts the
model id in `parameters.model`; that is accepted too.
"""

from __future__ import annotations

from typing import Any, Literal

from hubroute.types._base import Input, Output, Parameters

Padding = Literal["do_not_pad", "longest", "max_length"]


class TableQuestionAnsweringInputData(Input):
    #: the question about the table
    query: str
    #: the table as columns: header -> one cell (a string) per row
    table: dict[str, list[str]]


class TableQuestionAnsweringParameters(Parameters):
    #: not in the spec: huggingface_hub's table_question_answering() sends the model it was called
    #: with here (when it was passed to the call, not to the client), so it is accepted
    model: str | None = None
    padding: Padding | None = None
    #: run inference sequentially (needed for conversational models, slower)
    sequential: bool | None = None
    #: activates and controls truncation
    truncation: bool | None = None


class TableQuestionAnsweringInput(Input):
    inputs: TableQuestionAnsweringInputData
    parameters: TableQuestionAnsweringParameters | None = None


class TableQuestionAnsweringOutputElement(Output):
    answer: str
    #: the cells that make up the answer
    cells: list[str]
    #: [row, column] of each of those cells
    coordinates: list[list[int]]
    #: the aggregator used (SUM, AVERAGE, COUNT, ...), if any
    aggregator: str | None = None


# HF's Inference API answers a single object; the spec's shape is the list.
TableQuestionAnsweringOutput = list[TableQuestionAnsweringOutputElement]


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept the spec's `inputs.question` as `inputs.query`."""
    inputs = raw.get("inputs")
    if isinstance(inputs, dict) and "question" in inputs and "query" not in inputs:
        inputs = dict(inputs)
        inputs["query"] = inputs.pop("question")
        raw = {**raw, "inputs": inputs}
    return raw
