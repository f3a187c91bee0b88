"""A translated stream's batches (`routes.chat.Translated`): every chunk of a batch reaches the
translator once, in order, whatever its text holds, with every field a translator reads; anything
but a chunk is skipped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubroute.server.routes.chat import Translated, Unreadable


class _Seen:
    """A translator that gives back what it was given."""

    def __init__(self) -> None:
        self.chunks: list[dict[str, Any]] = []

    def chunk(self, chunk: dict[str, Any]) -> bytes:
        self.chunks.append(chunk)
        return b"<" + orjson.dumps(chunk) + b">"


class _Shape(Translated[_Seen]):
    def __init__(self) -> None:
        self.stream = _Seen()


def _frames(*chunks: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)


def test_every_chunk_of_a_batch_is_translated_in_order() -> None:
    chunks = [{"choices": [{"delta": {"content": text}}]}
              for text in ("Hello", "\n\ndata: not an event", '"}]', "ünïcode ✓", "")]
    shape = _Shape()
    out = shape.batch(_frames(*chunks))
    assert shape.stream.chunks == chunks
    assert out == b"".join(b"<" + orjson.dumps(c) + b">" for c in chunks)


def test_what_is_not_a_chunk_is_skipped() -> None:
    shape = _Shape()
    one, two = {"choices": []}, {"usage": {"prompt_tokens": 3}}  # (the session reads the usage, not a translator)
    assert shape.batch(_frames(one, [1, 2], "text", two)) == b"<" + orjson.dumps(one) + b"><{}>"
    assert shape.batch(b"") == b""


def test_a_batch_that_is_not_only_events_is_read_event_by_event() -> None:
    shape = _Shape()
    first = {"choices": [{"delta": {"content": "a"}}]}
    assert shape.batch(_frames(first) + b"data: [DONE]\n\n") == b"<" + orjson.dumps(first) + b">"
    assert shape.stream.chunks == [first]


def test_a_chunk_keeps_what_translators_read_and_drops_the_rest() -> None:
    call = {"index": 1, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}
    sent = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m", "system_fingerprint": "fp",
            "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls",
                         "delta": {"role": "assistant", "content": None, "reasoning_content": "hm",
                                   "reasoning": None, "tool_calls": [call]}}]}
    shape = _Shape()
    shape.batch(_frames(sent, {"choices": None}, {"choices": [{"delta": None, "finish_reason": None}]}))
    assert shape.stream.chunks == [
        {"choices": [{"finish_reason": "tool_calls",
                      "delta": {"content": None, "reasoning_content": "hm", "reasoning": None,
                                "tool_calls": [{"index": 1, "id": "call_1",
                                                "function": {"name": "f", "arguments": '{"a":'}}]}}]},
        {"choices": None},
        {"choices": [{"delta": None, "finish_reason": None}]},
    ]


@pytest.mark.parametrize("odd", [b'{"choices":{"0":{"delta":{"content":"a"}}}}', b'{"choices":[{"delta":"text"}]}',
                                 b'{"choices":[{"delta":{"tool_calls":[null]}}]}', b'{"choices":[7]}',
                                 b'{"choices":[{"delta":{"content":"a"}}', b"{'choices': []}"])
def test_a_chunk_that_cannot_be_read_is_unreadable_after_what_came_before_it(odd: bytes) -> None:
    shape = _Shape()
    before, after = {"choices": [{"delta": {"content": "b"}}]}, {"choices": [{"delta": {"content": "c"}}]}
    with pytest.raises(Unreadable, match=r"unexpected shape|not valid JSON") as raised:
        shape.batch(_frames(before) + b"data: " + odd + b"\n\n" + _frames(after))
    assert raised.value.before == b"<" + orjson.dumps(before) + b">"
    assert shape.stream.chunks == [before]
