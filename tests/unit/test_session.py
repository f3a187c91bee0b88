"""A stream session: its raw fast path gives exactly what the per-event path gives, and its end is
settled once (health, usage) whichever way the stream ends."""

from __future__ import annotations

import pytest

from hubroute.providers import Endpoint, OpenAICompatible, Target
from hubroute.routing.session import Frames
from hubroute.transport import parse_sse
from tests.mocks import chunk, stream_events

TARGET = Target(OpenAICompatible(name="p", base_url="http://x/v1"), "m", "m", "conversational",
                Endpoint("http://x/v1", None))


def blocks() -> list[bytes]:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    return [
        b"\n\n".join(stream_events(["a", "b"])) + b"\n\n",  # usage-only chunk then [DONE]
        b"\n\n".join(stream_events(["a"], usage=False)) + b"\n\n",
        b"\n\n".join(stream_events(["a"], done=b"")) + b"\n\n",  # no [DONE] yet
        b"data: " + chunk("x", finish="stop", usage=usage) + b"\n\ndata: [DONE]\n\n",  # usage with choices
        b"data: " + chunk("usage mentioned: \\\"usage\\\": {}") + b"\n\n",
        b"data: " + chunk("x", usage=usage) + b"\n\ndata: " + chunk("y") + b"\n\n",  # usage not last
        b'data: {"error": {"message": "boom"}}\n\n',
        # providers that send "usage": null in every chunk, and the real one at the end
        b"".join(b"data: " + c.replace(b'"choices"', b'"usage":null,"choices"') + b"\n\n" for c in
                 (chunk("a"), chunk("b"))) + b"data: " + chunk("c", usage=usage) + b"\n\n",
        b"data: " + chunk("a") + b"\n\ndata: [DONE]\n\ndata: " + chunk("late") + b"\n\n",  # [DONE] mid-batch
    ]


@pytest.mark.parametrize("block", blocks())
@pytest.mark.parametrize("wants_usage", [True, False])
def test_fast_path_matches_per_event_path(block: bytes, wants_usage: bool) -> None:
    batch = parse_sse(block)
    assert batch.raw is not None, "these blocks are canonical"
    fast, slow = Frames(TARGET, wants_usage), Frames(TARGET, wants_usage)
    out_fast = fast.frames(batch)
    out_slow = slow._frames(parse_sse(block.replace(b"data: ", b"data:")))  # non-canonical: parsed
    assert parse_sse(block.replace(b"data: ", b"data:")).raw is None
    assert out_fast == out_slow
    assert (fast.finished, fast.usage, fast.chunks) == (slow.finished, slow.usage, slow.chunks)
    assert type(fast.error) is type(slow.error)


def test_usage_is_stripped_unless_asked() -> None:
    block = b"\n\n".join(stream_events(["a", "b"])) + b"\n\n"
    relay = Frames(TARGET, wants_usage=False)
    out = relay.frames(parse_sse(block))
    assert b'"usage"' not in out and relay.usage == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    assert relay.finished and out.count(b"\n\n") == 3  # a, b, the finish chunk; [DONE] is the caller's


