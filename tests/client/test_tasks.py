"""Every task method of the client, in both modes, against a mock hf-inference behind a mock of HF's
router: the answer comes back in huggingface_hub's shape, and what the provider receives is what
huggingface_hub's own InferenceClient sends for the same call (so the two never drift apart)."""

from __future__ import annotations

import base64
import io
from typing import Any

import msgspec
import numpy as np
import orjson
import pytest
from huggingface_hub import InferenceClient as HFClient
from PIL import Image

from hubroute import types
from hubroute.client import AsyncInferenceClient
from hubroute.types._shared import normalize_tabular
from tests.client.conftest import config, hf_tasks, make_client, task_model
from tests.conftest import Mocks, RouterFactory
from tests.mocks import Received, json_reply
from tests.types.examples import EXAMPLES, WINE
from tests.types.test_hf_client import CALLS as HF_CALLS
from tests.types.test_hf_client import _sent_body

#: each task called as huggingface_hub's tests call it (huggingface_hub itself refuses
#: tabular-regression for a model URL: its body is checked against the spec instead)
CALLS = {**HF_CALLS, "tabular-regression": lambda c: c.tabular_regression(WINE)}


#: where hubroute's task path knowingly differs from huggingface_hub
KNOWN_DRIFT: dict[str, set[str]] = {}


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (3, 2), "red").save(buffer, "PNG")
    return buffer.getvalue()


MEDIA = {"text-to-image": (png(), "image/png"), "image-to-image": (png(), "image/png"),
         "text-to-speech": (b"fLaC\x00\x00\x00\x22" + bytes(40), "audio/flac")}


#: image-segmentation's masks: a real PNG (huggingface_hub decodes each into a PIL image)
SEGMENTS = [{"label": "LABEL_199", "mask": base64.b64encode(png()).decode(), "score": 0.986684}]


def reply_for(task: str) -> Any:
    if task in MEDIA:
        data, content_type = MEDIA[task]
        return json_reply(data, content_type=content_type)
    return json_reply(SEGMENTS if task == "image-segmentation" else EXAMPLES[task][1])


def received_body(sent: Received) -> dict[str, Any]:
    if sent.headers.get("Content-Type", "").startswith("application/json"):
        return dict(sent.json)
    return {"inputs": sent.body}


def normalized(task: str, body: dict[str, Any]) -> dict[str, Any]:
    """A task body with what does not change its meaning evened out: an empty `parameters`, the
    tabular shape huggingface_hub sends (`table`) for the spec's (`inputs.data`), base64 decoded."""
    spec = types.get_spec(task)
    body = normalize_tabular(dict(body))
    if spec.normalize is not None:
        body = spec.normalize(body)
    if body.get("parameters") == {}:
        del body["parameters"]
    for path in spec.binary_fields:
        *parents, last = path.split(".")
        holder: Any = body
        for key in parents:
            holder = holder[key]
        if isinstance(holder[last], str):
            holder[last] = base64.b64decode(holder[last])
    return body


def plain(value: Any) -> Any:
    """An output as plain JSON values, fields left unset (None) dropped."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def check_output(task: str, output: Any) -> None:
    if task in ("text-to-image", "image-to-image"):
        assert isinstance(output, Image.Image) and output.size == (3, 2)
        return
    if task == "text-to-speech":
        assert output == MEDIA[task][0]
        return
    if task == "image-segmentation":
        assert [(o.label, o.score) for o in output] == [(s["label"], s["score"]) for s in SEGMENTS]
        assert isinstance(output[0].mask, Image.Image) and output[0]["mask"].size == (3, 2)
        return
    expected = msgspec.to_builtins(types.parse_output(task, EXAMPLES[task][1], provider="test"))
    if task == "feature-extraction":
        assert isinstance(output, np.ndarray) and output.dtype == np.float32
        np.testing.assert_allclose(output, np.array(expected, dtype="float32"))
        return
    if task in ("question-answering", "table-question-answering"):
        expected = expected[0]  # one answer comes back alone, as huggingface_hub returns it
    assert plain(output) == plain(expected)
    first = output[0] if isinstance(output, list) else output
    if isinstance(first, dict):
        name = type(first).__name__
        assert name.startswith(("".join(p.title() for p in task.split("-")), "TextGeneration")), name
        key = next(iter(k for k, v in first.items() if v is not None))
        assert getattr(first, key) == first[key]  # attribute and dict access alike


def test_every_task_with_an_hf_inference_route_is_covered() -> None:
    assert set(hf_tasks()) <= set(CALLS) | {"text-generation"}
    assert "text-generation" not in hf_tasks()  # served over /v1/completions instead (test_chat.py)


@pytest.mark.parametrize("mode", ["routed", "direct"])
@pytest.mark.parametrize("task", hf_tasks())
async def test_task(task: str, mode: str, mocks: Mocks, router: RouterFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    hf = await mocks.start("hf")
    together = await mocks.start("together")
    conf = config(hf, together)
    client, _ = await make_client(mode, conf, router, model=task_model(task))
    hf.enqueue(reply_for(task))
    try:
        output = await CALLS[task](client)  # type: ignore[arg-type]
    finally:
        await client.close()
    check_output(task, output)

    assert hf.hits == 1
    sent = hf.received[0]
    route = "pipeline/" + task if task in ("feature-extraction", "sentence-similarity") else ""
    assert sent.path.rstrip("/") == f"/hf-inference/models/{task_model(task)}/{route}".rstrip("/")
    assert sent.headers["Authorization"] == "Bearer hf_test_token_123"
    theirs = _sent_body(monkeypatch, CALLS[task]) if task in HF_CALLS else {"inputs": {"data": WINE}}
    for key in KNOWN_DRIFT.get(task, ()):
        theirs.pop(key, None)
    assert normalized(task, received_body(sent)) == normalized(task, theirs)


@pytest.mark.parametrize("mode", ["routed", "direct"])
async def test_feature_extraction_options_reach_the_provider(mode: str, mocks: Mocks, router: RouterFactory) -> None:
    hf = await mocks.start("hf")
    together = await mocks.start("together")
    client, _ = await make_client(mode, config(hf, together), router, model=task_model("feature-extraction"))
    hf.enqueue(reply_for("feature-extraction"))
    await client.feature_extraction("Hi", normalize=True, truncate=True)
    await client.close()
    assert hf.received[0].json == {"inputs": "Hi", "normalize": True, "truncate": True}


async def test_binary_inputs_as_bytes_files_paths_and_urls(mocks: Mocks, router: RouterFactory,
                                                           tmp_path: Any) -> None:
    hf = await mocks.start("hf")
    together = await mocks.start("together")
    files = await mocks.start("files")  # a web server holding the image
    image = png()
    path = tmp_path / "cat.png"
    path.write_bytes(image)
    model = task_model("image-classification")
    client, _ = await make_client("direct", config(hf, together), router, model=model)
    answer = EXAMPLES["image-classification"][1]
    files.enqueue(json_reply(image, content_type="image/png"))
    hf.enqueue(*(json_reply(answer) for _ in range(6)))
    with path.open("rb") as f:
        inputs = [image, bytearray(image), str(path), path, f, f"{files.url}/cat.png", Image.open(path)]
        for value in inputs[:6]:
            out = await client.image_classification(value)
            assert out[0].label == "tiger cat"
    await client.close()
    assert [r.body for r in hf.received] == [image] * 6
    assert all(r.headers["Content-Type"] == "image/png" for r in hf.received)
    assert files.received[0].path == "/cat.png"


async def test_a_missing_file_is_a_clear_error(mocks: Mocks, router: RouterFactory) -> None:
    from hubroute.errors import InvalidRequest

    hf = await mocks.start("hf")
    together = await mocks.start("together")
    client, _ = await make_client("direct", config(hf, together), router)
    with pytest.raises(InvalidRequest, match="neither a URL nor an existing file"):
        await client.image_classification("/nonexistent/cat.png", model=task_model("image-classification"))
    assert hf.hits == 0
    await client.close()


def test_sync_and_async_clients_have_the_same_methods() -> None:
    import inspect

    from hubroute.client import InferenceClient

    for name, member in vars(AsyncInferenceClient).items():
        if not name.startswith("_") and inspect.iscoroutinefunction(member):
            mine = getattr(InferenceClient, name)
            assert inspect.signature(mine) == inspect.signature(member), name
            assert not inspect.iscoroutinefunction(mine)
    public = {n for n, m in vars(HFClient).items() if callable(m) and not n.startswith("_")}
    ours = {n for n in dir(InferenceClient) if not n.startswith("_")}
    assert public - ours <= {"get_endpoint_info"}, public - ours


def test_signatures_match_huggingface_hub() -> None:
    import inspect

    from huggingface_hub import AsyncInferenceClient as HFAsync

    for name, theirs in vars(HFAsync).items():
        ours = getattr(AsyncInferenceClient, name, None)
        if name.startswith("_") or not inspect.iscoroutinefunction(theirs) or ours is None:
            continue
        their_params = inspect.signature(theirs).parameters
        our_params = inspect.signature(ours).parameters
        assert list(our_params) == list(their_params), name
        for p, spec in their_params.items():
            assert our_params[p].kind == spec.kind and our_params[p].default == spec.default, (name, p)


def test_output_records_read_both_ways() -> None:
    from hubroute.client._records import typed, wrap

    out = typed(types.parse_output("object-detection", EXAMPLES["object-detection"][1], provider="x"))
    assert out[0].box.xmin == out[0]["box"]["xmin"] == 506
    assert type(out[0]).__name__ == "ObjectDetectionOutputElement"
    with pytest.raises(AttributeError):
        _ = out[0].boxes  # a typed record knows its fields
    chat = wrap({"choices": [{"message": {"content": "hi"}}]})
    assert chat.choices[0].message.tool_calls is None  # absent optional field, as in OpenAI's objects
    assert orjson.loads(orjson.dumps(chat)) == chat.to_dict()
