"""question-answering: {question, context} in, answer spans out."""

from __future__ import annotations

from hubroute.types._base import Input, Output, Parameters


class QuestionAnsweringInputData(Input):
    question: str
    #: the text the answer is extracted from
    context: str


class QuestionAnsweringParameters(Parameters):
    #: try to align the answer to real words (better on space-separated languages)
    align_to_words: bool | None = None
    #: overlap between chunks when the context is too long to fit with the question
    doc_stride: int | None = None
    #: whether "impossible" is an acceptable answer
    handle_impossible_answer: bool | None = None
    max_answer_len: int | None = None
    max_question_len: int | None = None
    max_seq_len: int | None = None
    #: number of answers to return
    top_k: int | None = None


class QuestionAnsweringInput(Input):
    inputs: QuestionAnsweringInputData
    parameters: QuestionAnsweringParameters | None = None


class QuestionAnsweringOutputElement(Output):
    answer: str
    score: float
    #: character offsets of the answer in the context
    start: int
    end: int


# HF's Inference API answers a single object when top_k is 1; the spec's shape is the list.
QuestionAnsweringOutput = list[QuestionAnsweringOutputElement]
