"""The passthrough's tap reads model and usage from answers it knows, within its bounds."""

from __future__ import annotations

import orjson

from hubroute.server.tap import AnswerTap
from hubroute.usage import Usage
from tests.mocks import chunk

USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def fed(content_type: str, pieces: list[bytes]) -> tuple[str | None, Usage | None]:
    tap = AnswerTap(content_type)
    for piece in pieces:
        tap.feed(piece)
    return tap.result()


def test_json_answer_in_pieces() -> None:
    body = orjson.dumps({"model": "m-1", "choices": [], "usage": USAGE})
    assert fed("application/json; charset=utf-8", [body[:7], body[7:20], body[20:]]) == (
        "m-1", Usage(input_tokens=9, output_tokens=4))


def test_sse_usage_from_the_last_event_carrying_it() -> None:
    stream = b"".join(b"data: " + chunk(f"w{i}", model="m-2") + b"\n\n" for i in range(3000))
    stream += b"data: " + chunk(finish="stop", usage=USAGE) + b"\n\ndata: [DONE]\n\n"
    pieces = [stream[i:i + 777] for i in range(0, len(stream), 777)]
    assert fed("text/event-stream", pieces) == ("m-2", Usage(input_tokens=9, output_tokens=4))


def test_usage_null_chunks_are_passed_over() -> None:
    stream = b"data: " + chunk("a", usage=USAGE) + b"\n\ndata: " + orjson.dumps(
        {"choices": [], "usage": None}) + b"\n\n"
    assert fed("text/event-stream", [stream])[1] == Usage(input_tokens=9, output_tokens=4)


def test_unknown_too_large_or_broken_answers_have_no_usage() -> None:
    assert fed("image/png", [b"\x89PNG"]) == (None, None)
    big = orjson.dumps({"model": "m", "usage": USAGE, "pad": "x" * (2 << 20)})
    assert fed("application/json", [big]) == (None, None)
    assert fed("application/json", [b'{"model": "m", "us']) == (None, None)
    assert fed("text/event-stream", [b"data: {broken\n\n"]) == (None, None)
