"""document-question-answering: {image, question} in, answers located in the document out."""

from __future__ import annotations

from hubroute.types._base import Binary, Input, Output, Parameters


class DocumentQuestionAnsweringInputData(Input):
    #: the document image (URL, base64 or data URI, or raw bytes)
    image: Binary
    question: str


class DocumentQuestionAnsweringParameters(Parameters):
    #: overlap between chunks when the document is too long to fit with the question
    doc_stride: int | None = None
    #: whether "impossible" is an acceptable answer
    handle_impossible_answer: bool | None = None
    #: language for OCR (the model's default is English)
    lang: str | None = None
    max_answer_len: int | None = None
    max_question_len: int | None = None
    max_seq_len: int | None = None
    #: number of answers to return
    top_k: int | None = None
    #: words and bounding boxes (normalized 0->1000); when given, OCR is skipped
    word_boxes: list[str | list[float]] | None = None


class DocumentQuestionAnsweringInput(Input):
    inputs: DocumentQuestionAnsweringInputData
    parameters: DocumentQuestionAnsweringParameters | None = None


class DocumentQuestionAnsweringOutputElement(Output):
    answer: str
    # The spec requires the three below; generative models (e.g. Donut) answer with `answer` only.
    score: float | None = None
    #: start word index of the answer in the OCR'd document or the given word boxes
    start: int | None = None
    end: int | None = None


DocumentQuestionAnsweringOutput = list[DocumentQuestionAnsweringOutputElement]
