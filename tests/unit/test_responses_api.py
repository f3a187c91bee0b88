"""OpenAI's Responses API over chat completions (`hubroute.responses_api`), unit by unit: the request's
fields and input items, its tools, the chat request made of them, the output items of an answer, and
the stream's events with their sequence numbers."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hubroute import replayed
from hubroute import responses_api as api
from hubroute.errors import InvalidRequest
from hubroute.usage import Usage
from tests.unit.chunks import answer, call, delta, events, finished, tool_delta

SIGNED = "hubroute:zai-org:glm-4.6"
WEATHER = {"type": "function", "name": "weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
NAMESPACE = {"type": "namespace", "name": "agents", "description": "Sub-agents",
             "tools": [{"type": "function", "name": "spawn", "parameters": {"type": "object"}}]}
PATCH = {"type": "custom", "name": "apply_patch", "description": "Patch files"}


def refused(call: Any, *args: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args)
    return caught.value


# --- check ---------------------------------------------------------------------------------------------
def test_a_well_formed_request_passes() -> None:
    api.check({"model": "m", "input": "hi", "instructions": "Be brief.", "store": False, "stream": True,
               "metadata": {"a": "b"}, "tools": [], "parallel_tool_calls": False, "text": {}, "reasoning": {},
               "user": "u", "max_output_tokens": 5, "max_tool_calls": 2, "temperature": 0, "top_p": 0.5,
               "background": False})


@pytest.mark.parametrize(("field", "value"), [
    ("model", None), ("model", ""), ("model", 5), ("instructions", ["Be brief."]), ("previous_response_id", 5),
    ("store", "yes"), ("stream", 1), ("metadata", []), ("tools", {}), ("parallel_tool_calls", "no"),
    ("text", "json"), ("reasoning", "high"), ("user", 5), ("max_output_tokens", 0), ("max_output_tokens", True),
    ("max_output_tokens", "5"), ("max_tool_calls", 0), ("temperature", "hot"), ("temperature", True),
    ("top_p", "x"), ("background", True), ("conversation", "conv_1"), ("prompt", {"id": "pmpt_1"}),
    ("input", None),
])
def test_each_wrong_field_is_refused_by_name(field: str, value: Any) -> None:
    assert refused(api.check, {"model": "m", "input": "hi", field: value}).param == field


@pytest.mark.parametrize("metadata", [
    {f"k{i}": "v" for i in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513}, {"k": 5}, {"k": None},
])
def test_metadata_beyond_the_apis_bounds_is_refused(metadata: dict[str, Any]) -> None:
    """16 pairs of strings at most, keys of 64 characters, values of 512: OpenAI's bounds."""
    assert refused(api.check, {"model": "m", "input": "hi", "metadata": metadata}).param == "metadata"
    api.check({"model": "m", "input": "hi", "metadata": {f"{i:064d}": "v" * 512 for i in range(16)}})


# --- input_items ----------------------------------------------------------------------------------------
def items(*given: Any) -> list[dict[str, Any]]:
    return api.input_items({"input": list(given)})


def test_a_string_input_is_one_user_message() -> None:
    [item] = api.input_items({"input": "hi"})
    assert item["id"].startswith("msg_")
    assert item == {"id": item["id"], "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": "hi"}]}


def test_a_messages_string_content_becomes_parts_of_its_role() -> None:
    said = items({"role": "user", "content": "hi"}, {"type": "message", "role": "assistant", "content": "hello"})
    assert [(i["type"], i["role"], i["content"]) for i in said] == [
        ("message", "user", [{"type": "input_text", "text": "hi"}]),
        ("message", "assistant", [{"type": "output_text", "text": "hello"}])]


def test_every_item_has_an_id_its_own_kept() -> None:
    given = items({"role": "user", "content": "hi", "id": "msg_mine"},
                  {"role": "user", "content": "again"},
                  {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
                  {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                  {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "x"})
    ids = [i["id"] for i in given]
    assert ids[0] == "msg_mine" and len(set(ids)) == 5
    assert [i.split("_")[0] for i in ids[1:]] == ["msg", "fc", "fco", "ctc"]
    assert given[2]["call_id"] == "c1" and given[3]["output"] == "sunny"


def test_an_explicit_null_id_still_gets_an_id() -> None:
    given = items({"type": "function_call", "id": None, "call_id": "c1", "name": "weather", "arguments": "{}"},
                  {"type": "function_call_output", "id": None, "call_id": "c1", "output": "sunny"})
    assert all(isinstance(i["id"], str) for i in given)


@pytest.mark.parametrize("item", [
    {"type": "function_call", "name": "weather", "arguments": "{}"},
    {"type": "function_call", "call_id": "c1", "arguments": "{}"},
    {"type": "function_call_output", "output": "sunny"},
    {"type": "custom_tool_call_output", "call_id": 7, "output": "done"},
    {"type": "item_reference", "id": "msg_1"},
    {"type": "hologram"},
    {"type": "message", "role": "tool", "content": "x"},
    {"type": "message", "role": "user", "content": 42},
    "hi",
])
def test_a_malformed_or_unsupported_item_is_refused_naming_it(item: Any) -> None:
    error = refused(items, {"role": "user", "content": "hi"}, item)
    assert error.param == "input.1"


def test_an_input_neither_string_nor_list_is_refused() -> None:
    assert refused(api.input_items, {"input": {"role": "user"}}).param == "input"


def test_items_from_an_earlier_answer_that_mean_nothing_to_chat_are_kept_as_they_came() -> None:
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"}
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    assert items(reasoning, search) == [reasoning, search]


# --- tools_of -------------------------------------------------------------------------------------------
def test_a_function_tool_is_a_chat_function() -> None:
    tools = api.tools_of({"tools": [{**WEATHER, "strict": True}]})
    assert tools.chat == [{"type": "function", "function": {
        "name": "weather", "parameters": WEATHER["parameters"], "description": "The weather in a city",
        "strict": True}}]
    assert tools.call_item("c1", "weather", '{"city":"Paris"}', "fc_1") == {
        "id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c1", "name": "weather",
        "arguments": '{"city":"Paris"}'}


def test_a_namespaces_functions_are_flattened_and_named_back() -> None:
    tools = api.tools_of({"tools": [NAMESPACE]})
    assert [t["function"]["name"] for t in tools.chat] == ["agents__spawn"]
    item = tools.call_item("c1", "agents__spawn", "{}")
    assert (item["type"], item["name"], item["namespace"], item["call_id"]) == ("function_call", "spawn",
                                                                                "agents", "c1")


def test_a_custom_tool_is_a_function_of_one_input_string_and_its_call_a_custom_tool_call() -> None:
    tools = api.tools_of({"tools": [PATCH]})
    [function] = tools.chat
    assert function["function"]["name"] == "apply_patch"
    assert function["function"]["parameters"] == {"type": "object", "properties": {"input": {"type": "string"}},
                                                  "required": ["input"]}
    assert function["function"]["description"].startswith("Patch files\n")
    item = tools.call_item("c1", "apply_patch", '{"input": "*** Begin Patch"}', "ctc_1")
    assert item == {"id": "ctc_1", "type": "custom_tool_call", "status": "completed", "call_id": "c1",
                    "name": "apply_patch", "input": "*** Begin Patch"}


def test_a_custom_call_whose_arguments_are_not_json_keeps_them_as_its_input() -> None:
    tools = api.tools_of({"tools": [PATCH]})
    assert tools.call_item("c1", "apply_patch", "*** Begin Patch")["input"] == "*** Begin Patch"


def test_hosted_tools_are_left_out_and_listed() -> None:
    tools = api.tools_of({"tools": [{"type": "web_search"}, WEATHER, {"type": "file_search", "vector_store_ids": []}]})
    assert [t["function"]["name"] for t in tools.chat] == ["weather"]
    assert tools.dropped == ["web_search", "file_search"]


def test_mcp_tools_are_not_chat_tools_nor_dropped() -> None:
    tools = api.tools_of({"tools": [{"type": "mcp", "server_label": "docs", "server_url": "https://e.com/mcp"}]})
    assert (tools.chat, tools.dropped, tools.names) == ([], [], {})


@pytest.mark.parametrize("tool", [{"type": "telepathy"}, {"type": "function"}, {"type": "custom", "name": ""}, "x"])
def test_an_unknown_or_nameless_tool_is_refused(tool: Any) -> None:
    assert refused(api.tools_of, {"tools": [WEATHER, tool]}).param == "tools.1"


# --- to_chat --------------------------------------------------------------------------------------------
def chat(input_: Any = "hi", **body: Any) -> dict[str, Any]:
    request = {"model": "org/model", "input": input_, **body}
    return api.to_chat(request, api.input_items(request), api.tools_of(request))


def test_the_instructions_come_first_and_developer_messages_are_system() -> None:
    messages = chat([{"role": "developer", "content": "Answer in English."},
                     {"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}],
                    instructions="Be brief.")["messages"]
    assert messages == [{"role": "system", "content": "Be brief."},
                        {"role": "system", "content": "Answer in English."},
                        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "hi"}]


def test_an_assistants_text_and_calls_join_one_message_and_outputs_are_tool_messages() -> None:
    messages = chat([
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
        {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call", "call_id": "c2", "name": "spawn", "namespace": "agents", "arguments": {"n": 1}},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"},
                                                                      {"type": "input_text", "text": "cold"}]},
    ])["messages"]
    assert messages == [
        {"role": "user", "content": "Paris and Rome?"},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "c2", "type": "function", "function": {"name": "agents__spawn", "arguments": '{"n":1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "c2", "content": "rain\ncold"}]


def test_a_custom_tool_call_goes_as_a_function_call_of_its_input() -> None:
    messages = chat([{"role": "user", "content": "patch it"},
                     {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin"},
                     {"type": "custom_tool_call_output", "call_id": "c1", "output": "Done."}],
                    tools=[PATCH])["messages"]
    assert messages[1]["tool_calls"] == [{"id": "c1", "type": "function", "function": {
        "name": "apply_patch", "arguments": '{"input":"*** Begin"}'}}]
    assert messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "Done."}


def test_an_assistant_message_after_a_tool_output_is_a_new_message() -> None:
    messages = chat([{"role": "user", "content": "?"},
                     {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
                     {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                     {"role": "assistant", "content": "Sunny."}])["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[3] == {"role": "assistant", "content": "Sunny."}


def test_images_are_image_url_parts_with_their_detail() -> None:
    messages = chat([{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "sometimes"},
    ]}])["messages"]
    assert messages == [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]


@pytest.mark.parametrize("part", [
    {"type": "input_file", "file_id": "file_1"},
    {"type": "input_image", "file_id": "file_1"},
    {"type": "input_audio", "input_audio": {}},
])
def test_a_part_chat_cannot_take_is_refused_naming_its_item(part: dict[str, Any]) -> None:
    error = refused(chat, [{"role": "user", "content": "hi"}, {"role": "user", "content": [part]}])
    assert error.param == "input.1"


def test_a_tool_outputs_image_reaches_the_provider() -> None:
    body = chat([{"role": "user", "content": "look"},
                 {"type": "function_call", "call_id": "c1", "name": "screenshot", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "c1", "output": [
                     {"type": "input_image", "image_url": "https://example.com/shot.png"}]}])
    assert "https://example.com/shot.png" in orjson.dumps(body).decode()


def test_a_json_schema_format_is_chats_response_format() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = chat(text={"format": {"type": "json_schema", "name": "weather", "schema": schema, "strict": True,
                                 "description": "A city"}})
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "weather", "schema": schema, "strict": True, "description": "A city"}}
    unnamed = chat(text={"format": {"type": "json_schema", "schema": schema}})
    assert unnamed["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def test_a_json_object_format_and_plain_text() -> None:
    assert chat(text={"format": {"type": "json_object"}})["response_format"] == {"type": "json_object"}
    assert "response_format" not in chat(text={"format": {"type": "text"}})


def test_a_json_schema_format_without_a_schema_is_refused() -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(text={"format": {"type": "json_schema", "name": "weather"}})
    assert caught.value.param == "text.format"


@pytest.mark.parametrize(("effort", "expected"), [
    ("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "high")])
def test_reasoning_effort(effort: str, expected: str) -> None:
    assert chat(reasoning={"effort": effort})["reasoning_effort"] == expected


def test_no_reasoning_effort_unless_one_chat_knows() -> None:
    assert "reasoning_effort" not in chat(reasoning={"effort": "none"})
    assert "reasoning_effort" not in chat(reasoning={"summary": "auto"})


def test_max_output_tokens_sampling_and_the_user() -> None:
    body = chat(max_output_tokens=100, temperature=0.2, top_p=0.9, stream=True, user="u-1")
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stream"], body["user"]) == (
        100, 0.2, 0.9, True, "u-1")
    assert chat(user="u-1", safety_identifier="s-1")["user"] == "s-1"
    assert "metadata" not in chat(metadata={"a": "b"})


def test_parallel_tool_calls_false_goes_with_the_tools() -> None:
    assert chat(tools=[WEATHER], parallel_tool_calls=False)["parallel_tool_calls"] is False
    assert "parallel_tool_calls" not in chat(tools=[WEATHER], parallel_tool_calls=True)
    assert "parallel_tool_calls" not in chat(parallel_tool_calls=False)  # (no tools: nothing to say)


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", "auto"), ("none", "none"), ("required", "required"),
    ({"type": "function", "name": "weather"}, {"type": "function", "function": {"name": "weather"}}),
    ({"type": "function", "name": "spawn", "namespace": "agents"},
     {"type": "function", "function": {"name": "agents__spawn"}}),
    ({"type": "custom", "name": "apply_patch"}, {"type": "function", "function": {"name": "apply_patch"}}),
    ({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "weather"}]}, "required"),
    ({"type": "allowed_tools", "mode": "auto", "tools": []}, "auto"),
    ({"type": "web_search"}, "auto"),
])
def test_each_tool_choice(choice: Any, expected: Any) -> None:
    assert chat(tools=[WEATHER, NAMESPACE, PATCH], tool_choice=choice)["tool_choice"] == expected


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}, {"type": "telepathy"}])
def test_a_malformed_tool_choice_is_refused(choice: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(tools=[WEATHER], tool_choice=choice)
    assert caught.value.param == "tool_choice"


def test_no_tools_no_tool_choice() -> None:
    body = chat(tools=[{"type": "web_search"}], tool_choice="required")
    assert "tools" not in body and "tool_choice" not in body


def test_signed_reasoning_rides_on_the_next_assistant_message_and_flags_the_body() -> None:
    body = chat([{"role": "user", "content": "Paris and Rome?"},
                 {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": SIGNED,
                  "content": [{"type": "reasoning_text", "text": "Two cities."}]},
                 {"type": "reasoning", "id": "rs_2", "encrypted_content": SIGNED,
                  "summary": [{"type": "summary_text", "text": "Paris first."}]},
                 {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
                 {"type": "function_call_output", "call_id": "c1", "output": "sunny"}])
    said = body["messages"][1]
    assert said[replayed.KEY] == {"provider": "zai-org", "model": "glm-4.6", "text": "Two cities.\nParis first."}
    assert said["content"] is None and said["tool_calls"][0]["id"] == "c1"
    assert body[replayed.FLAG] is True


@pytest.mark.parametrize("encrypted", ["gAAAAABo-openais-own", None])
def test_unsigned_reasoning_is_dropped_leaving_no_empty_assistant_message(encrypted: str | None) -> None:
    body = chat([{"role": "user", "content": "hi"},
                 {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": encrypted,
                  "content": [{"type": "reasoning_text", "text": "Secret thought."}]},
                 {"role": "user", "content": "again"}])
    assert body["messages"] == [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]
    assert replayed.FLAG not in body and "Secret thought." not in orjson.dumps(body).decode()


def test_an_input_of_no_message_is_refused() -> None:
    error = refused(chat, [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None}])
    assert error.param == "input"


# --- from_chat ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_is_a_reasoning_item_whose_encrypted_content_is_the_signature(field: str) -> None:
    output, status, reason = api.from_chat(answer({field: "Let me think.", "content": "Four."}), api.Tools(), SIGNED)
    assert [item["type"] for item in output] == ["reasoning", "message"]
    assert output[0]["id"].startswith("rs_")
    assert {k: v for k, v in output[0].items() if k != "id"} == {
        "type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Let me think."}],
        "encrypted_content": SIGNED}
    assert (status, reason) == ("completed", None)


def test_unsigned_reasoning_has_no_encrypted_content() -> None:
    output, _, _ = api.from_chat(answer({"reasoning": "hm", "content": "x"}), api.Tools())
    assert output[0]["encrypted_content"] is None


def test_a_text_answer_is_a_completed_message_item() -> None:
    [item], _, _ = api.from_chat(answer({"content": "Hello."}), api.Tools())
    assert item["id"].startswith("msg_")
    assert {k: v for k, v in item.items() if k != "id"} == {
        "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello.", "annotations": [], "logprobs": []}]}


def test_a_refusal_is_a_message_of_a_refusal_part() -> None:
    [item], _, _ = api.from_chat(answer({"content": None, "refusal": "I can't help with that."}), api.Tools())
    assert item["type"] == "message" and item["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


def test_function_calls_are_items_their_repeated_ids_made_unique() -> None:
    tools = api.tools_of({"tools": [WEATHER, NAMESPACE]})
    output, _, _ = api.from_chat(answer({"content": None, "tool_calls": [
        call("0", "weather", '{"city": "Paris"}'), call("0", "weather", {"city": "Rome"}),
        call(None, "agents__spawn")]},
        "tool_calls"), tools)
    assert [(i["type"], i["name"], i["arguments"]) for i in output] == [
        ("function_call", "weather", '{"city": "Paris"}'), ("function_call", "weather", '{"city":"Rome"}'),
        ("function_call", "spawn", "{}")]
    ids = [i["call_id"] for i in output]
    assert ids[0] == "0" and len(set(ids)) == 3 and output[2]["namespace"] == "agents"


@pytest.mark.parametrize(("finish", "status", "reason"), [
    ("stop", "completed", None), ("tool_calls", "completed", None), (None, "completed", None),
    ("length", "incomplete", "max_output_tokens"), ("content_filter", "incomplete", "content_filter")])
def test_incomplete_reasons(finish: str | None, status: str, reason: str | None) -> None:
    _, got_status, got_reason = api.from_chat(answer({"content": "x"}, finish), api.Tools())
    assert (got_status, got_reason) == (status, reason)


# --- ResponseStream -------------------------------------------------------------------------------------
def streamed(chunks: list[dict[str, Any]], usage: Any = None, *, tools: list[dict[str, Any]] | None = None,
             failed: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The events of a stream of `chunks`, their sequence numbers checked: 0, 1, 2, ..."""
    body = {"model": "org/model", "input": "hi", "tools": tools or []}
    stream = api.ResponseStream(api.response("resp_1", body, status="in_progress"), api.tools_of(body), SIGNED)
    raw = stream.start() + b"".join(stream.chunk(c) for c in chunks)
    raw += stream.failed(usage, *failed) if failed else stream.finish(usage)
    got = events(raw)
    assert [e["sequence_number"] for e in got] == list(range(len(got)))
    return got


def kinds(got: list[dict[str, Any]]) -> list[str]:
    return [e["type"].removeprefix("response.") for e in got]


def test_a_text_stream() -> None:
    got = streamed([delta(role="assistant", content=""), delta(content="Hel"), delta(content="lo"),
                    finished("stop")], Usage(7, 2))
    assert kinds(got) == ["created", "in_progress", "output_item.added", "content_part.added", "output_text.delta",
                          "output_text.delta", "output_text.done", "content_part.done", "output_item.done",
                          "completed"]
    item_id = got[2]["item"]["id"]
    assert got[2]["item"] == {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant",
                              "content": []}
    assert [(e["item_id"], e["output_index"], e["content_index"], e["delta"]) for e in got[4:6]] == [
        (item_id, 0, 0, "Hel"), (item_id, 0, 0, "lo")]
    assert got[6]["text"] == "Hello"
    assert got[8]["item"] == api.message_item(item_id, "Hello")
    final = got[-1]["response"]
    assert (final["status"], final["output"], final["incomplete_details"], final["error"]) == (
        "completed", [api.message_item(item_id, "Hello")], None, None)
    assert final["usage"] == {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2,
                              "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9}


def test_the_snapshot_is_in_progress_under_the_final_responses_id() -> None:
    got = streamed([delta(content="x")], Usage(1, 1))
    for event in got[:2]:
        assert event["response"]["status"] == "in_progress" and event["response"]["output"] == []
        assert event["response"]["id"] == got[-1]["response"]["id"] == "resp_1"


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_then_text(field: str) -> None:
    got = streamed([delta(**{field: "Let "}), delta(**{field: "me think."}), delta(content="Four."),
                    finished("stop")])
    assert kinds(got) == [
        "created", "in_progress",
        "output_item.added", "content_part.added", "reasoning_text.delta", "reasoning_text.delta",
        "reasoning_text.done", "content_part.done", "output_item.done",
        "output_item.added", "content_part.added", "output_text.delta", "output_text.done", "content_part.done",
        "output_item.done", "completed"]
    assert got[2]["item"]["encrypted_content"] == SIGNED and got[2]["output_index"] == 0
    assert got[3]["part"] == {"type": "reasoning_text", "text": ""}
    assert got[6]["text"] == "Let me think."
    assert got[8]["item"]["content"] == [{"type": "reasoning_text", "text": "Let me think."}]
    assert got[9]["output_index"] == 1
    assert [item["type"] for item in got[-1]["response"]["output"]] == ["reasoning", "message"]


def test_interleaved_tool_calls_each_get_their_deltas_and_all_end_in_order() -> None:
    got = streamed([
        delta(content="Let me look."),
        tool_delta(0, id="call_a", type="function", function={"name": "weather", "arguments": ""}),
        tool_delta(1, id="call_b", type="function", function={"name": "weather", "arguments": '{"city": '}),
        tool_delta(0, function={"arguments": '{"city": '}),
        tool_delta(1, function={"arguments": '"Rome"}'}),
        tool_delta(0, function={"arguments": '"Paris"}'}),
        finished("tool_calls")], Usage(7, 20), tools=[WEATHER])
    assert kinds(got) == [
        "created", "in_progress",
        "output_item.added", "content_part.added", "output_text.delta", "output_text.done", "content_part.done",
        "output_item.done",
        "output_item.added", "output_item.added", "function_call_arguments.delta", "function_call_arguments.delta",
        "function_call_arguments.delta", "function_call_arguments.delta",
        "function_call_arguments.done", "output_item.done", "function_call_arguments.done", "output_item.done",
        "completed"]
    a, b = got[8]["item"], got[9]["item"]
    assert (a["call_id"], a["status"], got[8]["output_index"]) == ("call_a", "in_progress", 1)
    assert (b["call_id"], b["status"], got[9]["output_index"]) == ("call_b", "in_progress", 2)
    assert [(e["item_id"], e["delta"]) for e in got[10:14]] == [
        (b["id"], '{"city": '), (a["id"], '{"city": '), (b["id"], '"Rome"}'), (a["id"], '"Paris"}')]
    assert [(e["item_id"], e["name"], e["arguments"]) for e in got[14:18:2]] == [
        (a["id"], "weather", '{"city": "Paris"}'), (b["id"], "weather", '{"city": "Rome"}')]
    assert [(e["item"]["call_id"], e["item"]["status"], e["item"]["arguments"]) for e in got[15:18:2]] == [
        ("call_a", "completed", '{"city": "Paris"}'), ("call_b", "completed", '{"city": "Rome"}')]
    assert got[-1]["response"]["status"] == "completed"
    assert [i["type"] for i in got[-1]["response"]["output"]] == ["message", "function_call", "function_call"]


def test_repeated_call_ids_in_a_stream_are_made_unique() -> None:
    got = streamed([tool_delta(0, id="0", function={"name": "weather", "arguments": "{}"}),
                    tool_delta(1, id="0", function={"name": "weather", "arguments": "{}"})], tools=[WEATHER])
    ids = [e["item"]["call_id"] for e in got if e["type"] == "response.output_item.added"]
    assert ids[0] == "0" and ids[1] != "0"


def test_a_custom_tool_calls_input_comes_whole_at_the_end() -> None:
    got = streamed([tool_delta(0, id="call_p", function={"name": "apply_patch", "arguments": '{"input": "*** Be'}),
                    tool_delta(0, function={"arguments": 'gin\\n"}'}), finished("tool_calls")], tools=[PATCH])
    assert kinds(got) == ["created", "in_progress", "output_item.added", "custom_tool_call_input.delta",
                          "custom_tool_call_input.done", "output_item.done", "completed"]
    assert got[2]["item"]["type"] == "custom_tool_call" and got[2]["item"]["name"] == "apply_patch"
    assert got[3]["delta"] == got[4]["input"] == "*** Begin\n"
    assert got[5]["item"]["input"] == "*** Begin\n" and got[5]["item"]["status"] == "completed"


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_an_unfinished_answer_ends_incomplete_with_its_reason(finish: str, reason: str) -> None:
    got = streamed([delta(content="Once upon"), finished(finish)], Usage(9, 2))
    assert kinds(got)[-4:] == ["output_text.done", "content_part.done", "output_item.done", "incomplete"]
    final = got[-1]["response"]
    assert (final["status"], final["incomplete_details"]) == ("incomplete", {"reason": reason})
    assert final["usage"]["output_tokens"] == 2 and final["output"][0]["content"][0]["text"] == "Once upon"


def test_a_failed_stream_closes_its_items_then_fails_with_the_error_and_usage() -> None:
    got = streamed([delta(content="Once")], Usage(9, 1), failed=("server_error", "the provider hung up"))
    assert kinds(got)[2:] == ["output_item.added", "content_part.added", "output_text.delta", "output_text.done",
                              "content_part.done", "output_item.done", "failed"]
    final = got[-1]["response"]
    assert (final["status"], final["error"], final["incomplete_details"]) == (
        "failed", {"code": "server_error", "message": "the provider hung up"}, None)
    assert (final["usage"]["input_tokens"], final["usage"]["output_tokens"]) == (9, 1)
    assert final["output"][0]["content"][0]["text"] == "Once" and final["id"] == "resp_1"
