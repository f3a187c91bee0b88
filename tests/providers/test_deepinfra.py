import email.parser
import email.policy

import pytest

from hubroute.errors import ProviderResponseError
from hubroute.providers import REGISTRY, TEXT_GENERATION
from hubroute.providers.steps import Done

from .helpers import DIRECT_KEY, HF_KEY, JSON_SCHEMA_FORMAT, chat, direct, sent, target, via_hf
from .media import WAV, audio, body, hub_request, start

P = REGISTRY["deepinfra"]


def test_identity():
    assert P.base_url == "https://api.deepinfra.com"
    assert P.env_keys == ("DEEPINFRA_API_KEY", "DEEPINFRA_TOKEN")
    assert P.env_api_key({"DEEPINFRA_TOKEN": "t"}) == "t"
    assert P.hf_routed is True


def test_chat_urls_are_under_v1_openai():
    assert chat(P, direct(P)).url == "https://api.deepinfra.com/v1/openai/chat/completions"
    assert chat(P, via_hf(P)).url == "https://router.huggingface.co/deepinfra/v1/openai/chat/completions"


def test_completion_urls_are_under_v1_openai():
    body = {"prompt": "Paris is", "max_tokens": 5}
    req = P.build_completion(body, target(P, direct(P), task=TEXT_GENERATION, provider_model="meta-llama/X"))
    assert req.url == "https://api.deepinfra.com/v1/openai/completions"
    assert sent(req) == {**body, "model": "meta-llama/X"}
    hf = P.build_completion(body, target(P, via_hf(P), task=TEXT_GENERATION))
    assert hf.url == "https://router.huggingface.co/deepinfra/v1/openai/completions"


def test_headers():
    assert chat(P, direct(P)).headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert chat(P, via_hf(P)).headers["authorization"] == f"Bearer {HF_KEY}"


def test_response_format_is_native():
    body = {"messages": [], "response_format": JSON_SCHEMA_FORMAT}
    assert sent(chat(P, direct(P), body))["response_format"] == JSON_SCHEMA_FORMAT


ASR_URL = "https://api.deepinfra.com/v1/openai/audio/transcriptions"
WHISPER = "openai/whisper-large-v3"


def form_parts(req) -> dict[str, tuple[dict[str, str], bytes]]:
    """The parts of a multipart request, read back by the standard library's MIME parser."""
    raw = f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode() + req.body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert message.is_multipart() and not message.defects
    out = {}
    for part in message.iter_parts():
        params = dict(part.get_params(header="content-disposition")[1:])
        out[params["name"]] = ({"filename": params.get("filename", ""), "type": part.get_content_type()},
                               part.get_payload(decode=True))
    return out


def test_asr_is_a_multipart_upload():
    req = start(P, direct(P), "automatic-speech-recognition", audio(), provider_model=WHISPER).request
    assert (req.method, req.url) == ("POST", ASR_URL)
    assert req.headers["authorization"] == f"Bearer {DIRECT_KEY}"
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = form_parts(req)
    assert set(parts) == {"file", "model"}
    assert parts["file"] == ({"filename": "audio.wav", "type": "audio/wav"}, WAV)
    assert parts["model"][1] == WHISPER.encode()
    hf = start(P, via_hf(P), "automatic-speech-recognition", audio(), provider_model=WHISPER).request
    assert hf.url == "https://router.huggingface.co/deepinfra/v1/openai/audio/transcriptions"
    assert hf.headers["authorization"] == f"Bearer {HF_KEY}"
    boundary = req.headers["content-type"].split("boundary=")[1]
    assert boundary != hf.headers["content-type"].split("boundary=")[1]  # random per body


def test_asr_form_matches_huggingface_hub():
    ours = start(P, direct(P), "automatic-speech-recognition", audio(), provider_model=WHISPER).request
    theirs = hub_request("deepinfra", "automatic-speech-recognition", WAV, {}, WHISPER)
    assert ours.url == theirs.url
    theirs_parts = form_parts(type(ours)("POST", theirs.url, {"content-type": theirs.headers["content-type"]},
                                         bytes(theirs.data)))
    ours_parts = form_parts(ours)
    assert ours_parts["model"] == theirs_parts["model"]
    assert ours_parts["file"][1] == theirs_parts["file"][1]


def test_asr_timestamps_and_temperature():
    params = {"return_timestamps": True, "generation_parameters": {"temperature": 0.2}}
    step = start(P, direct(P), "automatic-speech-recognition", audio(b"fLaC" + WAV, "audio/flac"), params,
                 provider_model=WHISPER)
    parts = form_parts(step.request)
    assert parts["response_format"][1] == b"verbose_json"
    assert parts["timestamp_granularities[]"][1] == b"segment"
    assert parts["temperature"][1] == b"0.2"
    assert parts["file"][0] == {"filename": "audio.flac", "type": "audio/flac"}
    answer = {"text": "hello world", "segments": [{"text": "hello", "start": 0.0, "end": 0.5},
                                                   {"text": " world", "start": 0.5, "end": 1.0}]}
    done = step.parse(answer)
    assert isinstance(done, Done)
    assert done.value == {"text": "hello world", "chunks": [{"text": "hello", "timestamp": [0.0, 0.5]},
                                                            {"text": " world", "timestamp": [0.5, 1.0]}]}
    assert step.parse({"text": "hi"}).value == {"text": "hi"}
    plain = start(P, direct(P), "automatic-speech-recognition", audio(), provider_model=WHISPER)
    assert plain.parse(answer).value == {"text": "hello world"}  # no timestamps asked: no chunks
    assert set(form_parts(plain.request)) == {"file", "model"}
    for bad in ({}, {"text": None}, {"error": "x"}):
        with pytest.raises(ProviderResponseError):
            step.parse(bad)


def test_text_to_speech_is_raw_audio():
    step = start(P, direct(P), "text-to-speech", "Hello", provider_model="hexgrad/Kokoro-82M")
    assert step.request.url == "https://api.deepinfra.com/v1/openai/audio/speech"
    assert body(step.request) == {"input": "Hello", "model": "hexgrad/Kokoro-82M"}
    theirs = hub_request("deepinfra", "text-to-speech", "Hello", {}, "hexgrad/Kokoro-82M")
    assert body(step.request) == theirs.json
    with pytest.raises(ProviderResponseError):
        step.parse({"audio": "base64?"})


def test_feature_extraction_task():
    step = start(P, direct(P), "feature-extraction", "hi", provider_model="BAAI/bge-m3")
    assert step.request.url == "https://api.deepinfra.com/v1/openai/embeddings"
    assert body(step.request) == hub_request("deepinfra", "feature-extraction", "hi", {}, "BAAI/bge-m3").json
    assert step.parse({"data": [{"embedding": [1.0, 2.0]}]}).value == [[1.0, 2.0]]
