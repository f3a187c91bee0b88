"""Anthropic's Messages API over chat completions (`hubroute.messages_api`), unit by unit: each content
block a client sends, each request field, the answer's blocks, ids and stop reasons, and the stream's
events in Anthropic's order."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from hubroute import messages_api as api
from hubroute import replayed
from hubroute.errors import InvalidRequest
from hubroute.usage import Usage
from tests.unit.chunks import answer, call, delta, events, finished, tool_delta

SIGNED = "hubroute:zai-org:glm-4.6"
#: the ids Anthropic's clients expect of a tool_use block
TOOL_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def chat(*messages: dict[str, Any], **body: Any) -> dict[str, Any]:
    """The chat request for a Messages request of `messages` (a user's "hi" when none)."""
    return api.to_chat({"model": "org/model", "max_tokens": 64,
                        "messages": list(messages) or [{"role": "user", "content": "hi"}], **body})


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "assistant", "content": list(blocks)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def refused(*messages: dict[str, Any], **body: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        chat(*messages, **body)
    return caught.value


# --- to_chat: content blocks ------------------------------------------------------------------------
def test_text_blocks_alone_are_plain_text_content() -> None:
    assert chat(user(text("one"), text("two")))["messages"] == [{"role": "user", "content": "one\ntwo"}]


def test_a_string_content_stays_a_string() -> None:
    assert chat({"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"})["messages"] == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_a_base64_image_becomes_a_data_url_beside_the_text() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
    assert chat(user(text("What is this?"), image))["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]}]


def test_an_image_by_url_keeps_its_url() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    assert chat(user(image))["messages"] == [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]


def test_an_image_of_another_source_is_refused_naming_its_block() -> None:
    image = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    assert refused(user(text("see"), image)).param == "messages.0.content.1"


def test_tool_use_blocks_become_the_assistants_tool_calls() -> None:
    turn = assistant(text("Let me look."),
                     {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                     {"type": "tool_use", "id": "call_2", "name": "clock"})
    said = chat(user(text("?")), turn)["messages"][1]
    assert said == {"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]}


def test_tool_results_come_first_as_tool_messages_then_the_users_text() -> None:
    """A chat provider wants the tool results right after the calls, whatever the blocks' order."""
    turn = user(text("Summarise."), {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [text("dry"), text("warm")]})
    assert chat(turn)["messages"] == [{"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                                      {"role": "tool", "tool_call_id": "call_2", "content": "dry\nwarm"},
                                      {"role": "user", "content": "Summarise."}]


def test_a_tool_results_images_go_in_the_user_turn_after_the_results() -> None:
    shot = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    turn = user({"type": "tool_result", "tool_use_id": "call_1", "content": [text("the screen:"), shot]})
    assert chat(turn)["messages"] == [
        {"role": "tool", "tool_call_id": "call_1", "content": "the screen:"},
        {"role": "user", "content": [{"type": "image_url",
                                      "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]


def test_an_error_tool_result_says_so() -> None:
    turn = user({"type": "tool_result", "tool_use_id": "call_1", "content": [text("no such city")], "is_error": True})
    assert chat(turn)["messages"] == [{"role": "tool", "tool_call_id": "call_1", "content": "Error: no such city"}]


def test_a_carried_tool_id_goes_back_to_the_provider_as_it_gave_it() -> None:
    carried = api.tool_use_id("functions.read:0", set())
    turn = [assistant({"type": "tool_use", "id": carried, "name": "read", "input": {}}),
            user({"type": "tool_result", "tool_use_id": carried, "content": "text"})]
    messages = chat(user(text("read")), *turn)["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "functions.read:0"
    assert messages[2] == {"role": "tool", "tool_call_id": "functions.read:0", "content": "text"}


def test_thinking_signed_by_hubroute_rides_on_its_assistant_message_and_flags_the_body() -> None:
    body = chat(user(text("go")), assistant({"type": "thinking", "thinking": "The file first.", "signature": SIGNED},
                                            {"type": "tool_use", "id": "call_1", "name": "read", "input": {}}))
    said = body["messages"][1]
    assert said[replayed.KEY] == {"provider": "zai-org", "model": "glm-4.6", "text": "The file first."}
    assert said["content"] is None  # never made text
    assert body[replayed.FLAG] is True


@pytest.mark.parametrize("block", [
    {"type": "thinking", "thinking": "The file first.", "signature": "EqQBCkgIARABGAIiQL"},  # Anthropic's own
    {"type": "thinking", "thinking": "The file first."},
    {"type": "redacted_thinking", "data": "The file first."},
], ids=["anthropics-signature", "unsigned", "redacted"])
def test_thinking_not_signed_by_hubroute_is_dropped_never_made_text(block: dict[str, Any]) -> None:
    body = chat(user(text("go")), assistant(block, text("Done.")))
    assert body["messages"][1] == {"role": "assistant", "content": "Done."}
    assert replayed.FLAG not in body and "The file first." not in orjson.dumps(body).decode()


def test_an_assistant_turn_of_unsigned_thinking_alone_leaves_no_empty_message() -> None:
    body = chat(user(text("go")), assistant({"type": "thinking", "thinking": "hm", "signature": "EqQB"}),
                user(text("go on")))
    assert [m["role"] for m in body["messages"]] == ["user", "user"]


@pytest.mark.parametrize("block", [
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "secret doc"}},
    {"type": "search_result", "source": "https://example.com", "title": "t", "content": [text("secret doc")]},
    {"type": "thinking", "thinking": "secret doc", "signature": SIGNED},
])
def test_blocks_for_anthropics_servers_alone_are_dropped_from_a_users_turn(block: dict[str, Any]) -> None:
    body = chat(user(text("Read this."), block))
    assert body["messages"] == [{"role": "user", "content": "Read this."}]
    assert "secret doc" not in orjson.dumps(body).decode()


@pytest.mark.parametrize(("message", "where"), [
    (user(text("hi"), {"type": "video", "url": "x"}), "messages.0.content.1"),
    (assistant(text("hi"), {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}),
     "messages.0.content.1"),
])
def test_an_unknown_block_type_is_refused_naming_where_it_is(message: dict[str, Any], where: str) -> None:
    error = refused(message)
    assert error.param == "messages.0" and where in error.message


# --- to_chat: system, tools, options ------------------------------------------------------------------
def test_a_system_string_is_the_first_message() -> None:
    assert chat(system="Be brief.")["messages"] == [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "hi"}]


def test_system_blocks_are_joined_their_text_alone() -> None:
    blocks = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}, text("Be kind.")]
    assert chat(system=blocks)["messages"][0] == {"role": "system", "content": "Be brief.\nBe kind."}


def test_a_system_that_is_not_text_is_refused() -> None:
    assert refused(system=42).param == "system"


def test_system_messages_within_messages_stay_where_they_are() -> None:
    body = chat({"role": "user", "content": "hi"}, {"role": "system", "content": [text("Now be terse.")]},
                {"role": "user", "content": "go"})
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "system", "content": "Now be terse."},
                                {"role": "user", "content": "go"}]


def test_tools_become_functions_with_their_schema() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = chat(tools=[{"name": "weather", "description": "The weather", "input_schema": schema},
                       {"name": "clock", "cache_control": {"type": "ephemeral"}}])
    assert body["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": schema, "description": "The weather"}},
        {"type": "function", "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}}}]


@pytest.mark.parametrize(("tools", "param"), [({"name": "x"}, "tools"), ([{"input_schema": {}}], "tools.0")])
def test_malformed_tools_are_refused(tools: Any, param: str) -> None:
    assert refused(tools=tools).param == param


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "weather"}, {"tool_choice": {"type": "function", "function": {"name": "weather"}}}),
    ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    ({"type": "any", "disable_parallel_tool_use": False}, {"tool_choice": "required"}),
])
def test_each_tool_choice(choice: dict[str, Any], expected: dict[str, Any]) -> None:
    body = chat(tools=[{"name": "weather"}], tool_choice=choice)
    assert {key: body[key] for key in ("tool_choice", "parallel_tool_calls") if key in body} == expected


@pytest.mark.parametrize("choice", ["auto", {"type": "tool"}, {"type": "sometimes"}])
def test_a_malformed_tool_choice_is_refused(choice: Any) -> None:
    assert refused(tools=[{"name": "weather"}], tool_choice=choice).param == "tool_choice"


def test_stop_sequences_are_chats_stop() -> None:
    assert chat(stop_sequences=["END", "\n\nHuman:"])["stop"] == ["END", "\n\nHuman:"]
    assert "stop" not in chat(stop_sequences=[])


def test_stop_sequences_must_be_strings() -> None:
    assert refused(stop_sequences="END").param == "stop_sequences"


def test_metadata_user_id_is_chats_user() -> None:
    assert chat(metadata={"user_id": "u-1"})["user"] == "u-1"
    assert "user" not in chat(metadata={"user_id": 7})


def test_sampling_options_and_stream_pass_on() -> None:
    body = chat(temperature=0.2, top_p=0.9, top_k=40, stream=True)
    assert (body["temperature"], body["top_p"], body["top_k"], body["stream"]) == (0.2, 0.9, 40, True)
    assert body["max_tokens"] == 64 and body["model"] == "org/model"


@pytest.mark.parametrize(("budget", "effort"), [
    (1024, "low"), (4096, "low"), (4097, "medium"), (16384, "medium"), (16385, "high"), (64000, "high")])
def test_a_thinking_budget_is_a_reasoning_effort(budget: int, effort: str) -> None:
    assert chat(thinking={"type": "enabled", "budget_tokens": budget})["reasoning_effort"] == effort


@pytest.mark.parametrize(("effort", "expected"), [("low", "low"), ("medium", "medium"), ("high", "high"),
                                                  ("max", "high")])
def test_adaptive_thinking_takes_the_output_configs_effort(effort: str, expected: str) -> None:
    body = chat(thinking={"type": "adaptive"}, output_config={"effort": effort})
    assert body["reasoning_effort"] == expected


def test_adaptive_thinking_without_an_effort_and_disabled_thinking_ask_no_effort() -> None:
    assert "reasoning_effort" not in chat(thinking={"type": "adaptive"})
    assert "reasoning_effort" not in chat(thinking={"type": "disabled"})


@pytest.mark.parametrize(("body", "param"), [
    ({"max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}, "model"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": True, "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "hi"}]}, "max_tokens"),
    ({"model": "m", "max_tokens": 5}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": []}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": "hi"}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"},
                                                  {"role": "user", "content": 42}]}, "messages.1"),
], ids=["no-model", "empty-model", "no-max-tokens", "zero-max-tokens", "bool-max-tokens", "string-max-tokens",
        "no-messages", "empty-messages", "string-messages", "tool-role", "number-content"])
def test_a_malformed_request_is_refused_naming_its_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        api.to_chat(body)
    assert caught.value.param == param


# --- from_chat ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_is_a_thinking_block_signed_as_given(field: str) -> None:
    message = api.from_chat(answer({field: "Let me think.", "content": "Four."}), "org/model", signed=SIGNED)
    assert message["content"] == [{"type": "thinking", "thinking": "Let me think.", "signature": SIGNED},
                                  {"type": "text", "text": "Four."}]


def test_a_text_answer_is_a_message_with_one_text_block() -> None:
    message = api.from_chat(answer({"content": "Hello.", "reasoning": ""}), "org/model", Usage(7, 2))
    assert message["id"].startswith("msg_") and message["id"] != api.from_chat(answer({}), "m")["id"]
    assert {k: v for k, v in message.items() if k != "id"} == {
        "type": "message", "role": "assistant", "model": "org/model", "content": [{"type": "text", "text": "Hello."}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 7, "output_tokens": 2}}


def test_tool_calls_are_tool_use_blocks_with_their_input() -> None:
    message = api.from_chat(answer({"content": None, "tool_calls": [
        call("call_1", "weather", '{"city": "Paris"}'), call("call_2", "weather", {"city": "Rome"}),
        call("call_3", "clock", "not json")]}, "tool_calls"), "m")
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
        {"type": "tool_use", "id": "call_3", "name": "clock", "input": {}}]
    assert message["stop_reason"] == "tool_use"


def test_a_tool_id_anthropic_refuses_is_carried_and_maps_back() -> None:
    block = api.from_chat(answer({"tool_calls": [call("functions.bash:0")]}), "m")["content"][0]
    assert TOOL_ID.fullmatch(block["id"]) and block["id"] != "functions.bash:0"
    assert api.provider_id(block["id"]) == "functions.bash:0"


def test_missing_and_repeated_tool_ids_get_new_unique_ones() -> None:
    blocks = api.from_chat(answer({"tool_calls": [call("0"), call("0"), call(None), call("")]}), "m")["content"]
    ids = [b["id"] for b in blocks]
    assert ids[0] == "0" and len(set(ids)) == 4 and all(TOOL_ID.fullmatch(i) for i in ids)
    assert all(api.provider_id(i) == i for i in ids[1:])  # (new ids: sent back as they are)


@pytest.mark.parametrize(("finish", "stop_reason"), [
    ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("function_call", "tool_use"),
    ("content_filter", "refusal"), (None, "end_turn"), ("eos", "end_turn")])
def test_stop_reasons(finish: str | None, stop_reason: str) -> None:
    assert api.from_chat(answer({"content": "x"}, finish), "m")["stop_reason"] == stop_reason


def test_usage_carries_cache_reads() -> None:
    usage = api.from_chat(answer({"content": "x"}), "m", Usage(10, 5, input_cached=4))["usage"]
    assert usage["cache_read_input_tokens"] == 4 and usage["output_tokens"] == 5
    assert api.from_chat(answer({"content": "x"}), "m")["usage"] == {"input_tokens": 0, "output_tokens": 0}


def test_input_tokens_exclude_cache_reads_as_anthropic_counts_them() -> None:
    usage = api.from_chat(answer({"content": "x"}), "m", Usage(10, 5, input_cached=4))["usage"]
    assert usage == {"input_tokens": 6, "output_tokens": 5, "cache_read_input_tokens": 4}


# --- MessageStream ------------------------------------------------------------------------------------
def streamed(chunks: list[dict[str, Any]], usage: Any = None, *, input_tokens: int = 12,
             signed: str = "") -> tuple[api.MessageStream, list[dict[str, Any]]]:
    stream = api.MessageStream("org/model", input_tokens, signed)
    raw = stream.start() + b"".join(stream.chunk(c) for c in chunks) + stream.finish(usage)
    return stream, events(raw)


def test_a_text_stream_in_anthropics_order() -> None:
    stream, got = streamed([delta(role="assistant", content=""), delta(content="Hel"), delta(content="lo"),
                            finished("stop")], Usage(12, 2))
    assert got == [
        {"type": "message_start", "message": {
            "id": stream.id, "type": "message", "role": "assistant", "model": "org/model", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 0}}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"input_tokens": 12, "output_tokens": 2}},
        {"type": "message_stop"}]


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_thinking_then_text_the_signature_before_the_thinking_block_stops(field: str) -> None:
    _, got = streamed([delta(**{field: "Let "}), delta(**{field: "me think."}), delta(content="Four.")],
                      signed=SIGNED)
    assert got[2:-2] == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                      "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "me think."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIGNED}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Four."}},
        {"type": "content_block_stop", "index": 1}]


def test_a_thinking_block_still_open_at_the_end_is_signed_before_it_stops() -> None:
    _, got = streamed([delta(reasoning="hm"), finished("length")], signed=SIGNED)
    assert [(e["type"], e.get("delta", {}).get("type")) for e in got[2:]] == [
        ("content_block_start", None), ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"), ("content_block_stop", None),
        ("message_delta", None), ("message_stop", None)]
    assert got[4]["delta"] == {"type": "signature_delta", "signature": SIGNED}
    assert got[-2]["delta"]["stop_reason"] == "max_tokens"


def test_several_tool_calls_each_a_block_of_input_json_deltas() -> None:
    _, got = streamed([
        delta(content="Let me look."),
        tool_delta(0, id="call_a", type="function", function={"name": "weather", "arguments": ""}),
        tool_delta(0, function={"arguments": '{"city": '}), tool_delta(0, function={"arguments": '"Paris"}'}),
        tool_delta(1, id="functions.weather:1", type="function", function={"name": "weather",
                                                                            "arguments": '{"city": "Rome"}'}),
        finished("tool_calls")], Usage(12, 30))
    carried = api.tool_use_id("functions.weather:1", set())
    assert got[2:] == [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me look."}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "call_a",
                                                                      "name": "weather", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": '}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"Paris"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": carried,
                                                                      "name": "weather", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                              "partial_json": '{"city": "Rome"}'}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"input_tokens": 12, "output_tokens": 30}},
        {"type": "message_stop"}]


def test_repeated_tool_ids_in_a_stream_get_new_unique_ones() -> None:
    _, got = streamed([tool_delta(0, id="0", function={"name": "read", "arguments": "{}"}),
                       tool_delta(1, id="0", function={"name": "read", "arguments": "{}"})])
    ids = [e["content_block"]["id"] for e in got if e["type"] == "content_block_start"]
    assert ids[0] == "0" and ids[1] != "0" and TOOL_ID.fullmatch(ids[1])


def test_interleaved_tool_call_deltas_make_one_block_per_call() -> None:
    _, got = streamed([tool_delta(0, id="call_a", function={"name": "weather", "arguments": '{"city": '}),
                       tool_delta(1, id="call_b", function={"name": "clock", "arguments": "{}"}),
                       tool_delta(0, function={"arguments": '"Paris"}'}), finished("tool_calls")])
    starts = [e["content_block"] for e in got if e["type"] == "content_block_start"]
    assert [(b["id"], b["name"]) for b in starts] == [("call_a", "weather"), ("call_b", "clock")]


def test_finish_counts_input_tokens_from_the_estimate_when_the_provider_gave_none() -> None:
    _, got = streamed([delta(content="x")], Usage(None, 3), input_tokens=12)
    assert got[-2]["usage"] == {"input_tokens": 12, "output_tokens": 3}
    _, got = streamed([delta(content="x")], None, input_tokens=12)
    assert got[-2]["usage"] == {"input_tokens": 12, "output_tokens": 0}
    _, got = streamed([delta(content="x")], Usage(40, 3), input_tokens=12)
    assert got[-2]["usage"] == {"input_tokens": 40, "output_tokens": 3}


def test_an_empty_answer_still_ends_the_message() -> None:
    _, got = streamed([finished("stop")], Usage(12, 0))
    assert [e["type"] for e in got] == ["message_start", "ping", "message_delta", "message_stop"]


def test_an_error_event_in_anthropics_shape() -> None:
    assert events(api.MessageStream.error("overloaded_error", "every provider is busy")) == [
        {"type": "error", "error": {"type": "overloaded_error", "message": "every provider is busy"}}]


def test_reasoning_is_given_only_when_thinking_was_asked_for() -> None:
    said = answer({"content": "Paris.", "reasoning": "Capital of France."})
    assert [b["type"] for b in api.from_chat(said, "m", thinking=False)["content"]] == ["text"]
    assert [b["type"] for b in api.from_chat(said, "m")["content"]] == ["thinking", "text"]
    stream = api.MessageStream("org/model", 12, thinking=False)
    raw = stream.start() + stream.chunk(delta(reasoning="Capital.")) + stream.chunk(delta(content="Paris.")) + \
        stream.finish(None)
    assert [e["delta"]["type"] for e in events(raw) if e["type"] == "content_block_delta"] == ["text_delta"]
    assert api.thinks({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert api.thinks({"thinking": {"type": "adaptive"}})
    assert not api.thinks({"thinking": {"type": "disabled"}}) and not api.thinks({})


def test_a_streams_usage_leaves_the_cache_reads_out_of_input_tokens() -> None:
    _, got = streamed([delta(content="x")], Usage(10, 3, input_cached=4))
    assert got[-2]["usage"] == {"input_tokens": 6, "output_tokens": 3, "cache_read_input_tokens": 4}


def test_a_provider_id_too_long_to_carry_gets_one_of_ours() -> None:
    seen: set[str] = set()
    long_id = "functions.read:" + "x" * 100
    made = api.tool_use_id(long_id, seen)
    assert re.fullmatch(r"toolu_[0-9a-f]{24}", made)
    short = api.tool_use_id("functions.read:0", seen)
    assert len(short) <= 128 and api.provider_id(short) == "functions.read:0"


def test_a_tool_id_is_fitted_to_a_provider_that_takes_one_shape() -> None:
    from hubroute.providers._base import fitted_id

    assert fitted_id("Ab3dE6gH9", 9) == "Ab3dE6gH9"  # already one
    made = fitted_id("toolu_01AbCdEfGhIjKlMnOpQrStUv", 9)
    assert re.fullmatch(r"[A-Za-z0-9]{9}", made) and made == fitted_id("toolu_01AbCdEfGhIjKlMnOpQrStUv", 9)
    assert fitted_id("toolu_01AbCdEfGhIjKlMnOpQrStUw", 9) != made
