"""black-forest-labs: text-to-image as a job (submit, poll `polling_url`, download `result.sample`),
replayed from the recorded api.us1.bfl.ai traffic."""

from __future__ import annotations

import pytest

from hubroute.errors import NotSupported, ProviderResponseError
from hubroute.providers import REGISTRY, Endpoint

from .helpers import DIRECT_KEY, HF_KEY, direct, via_hf
from .media import body, is_download, start, walk
from .tapes import tapes

P = REGISTRY["black-forest-labs"]
SUBMIT_URL = "https://api.us1.bfl.ai/v1/flux-dev"
JOB = "dd8b1c92-587b-428c-9095-d8c12a641160"
POLL_URL = f"https://api.us1.bfl.ai/v1/get_result?id={JOB}"


def test_identity_sold_directly():
    assert P.base_url == "https://api.us1.bfl.ai"
    assert P.env_keys == ("BFL_API_KEY",)
    assert P.hf_routed is False
    assert set(P.tasks) == {"text-to-image"}
    assert P.routes["text-to-image"] == "/v1/{model}"
    with pytest.raises(NotSupported):
        start(P, direct(P), "text-to-video", "a cat")


def test_key_goes_in_x_key_directly_and_as_bearer_through_hf():
    req = start(P, direct(P), "text-to-image", "a cat", provider_model="flux-dev").request
    assert (req.method, req.url) == ("POST", SUBMIT_URL)
    assert req.headers == {"content-type": "application/json", "x-key": DIRECT_KEY}
    hf = start(P, via_hf(P), "text-to-image", "a cat", provider_model="flux-dev").request
    assert hf.url == "https://router.huggingface.co/black-forest-labs/v1/flux-dev"
    assert hf.headers == {"content-type": "application/json", "authorization": f"Bearer {HF_KEY}"}
    assert P.auth_headers(Endpoint(P.base_url or "", None)) == {}


def test_parameters_are_renamed():
    params = {"num_inference_steps": 28, "guidance_scale": 3.5, "width": 1024, "height": 768, "seed": 1}
    assert body(start(P, direct(P), "text-to-image", "a cat", params, provider_model="flux-dev").request) == {
        "prompt": "a cat", "steps": 28, "guidance": 3.5, "width": 1024, "height": 768, "seed": 1}


def test_recorded_job_replays_submit_polls_and_download():
    [submit] = tapes(SUBMIT_URL)
    sent_body = submit.request_json
    first = start(P, direct(P), "text-to-image", sent_body["prompt"],
                  {"height": sent_body["height"], "width": sent_body["width"], "seed": sent_body["seed"],
                   "num_inference_steps": sent_body["num_inference_steps"]}, provider_model="flux-dev")
    assert first.request.url == submit.url
    ours = body(first.request)
    # huggingface.js sent `num_inference_steps` as is; BFL's API names it `steps` (as huggingface_hub sends it)
    assert ours == {**{k: v for k, v in sent_body.items() if k != "num_inference_steps"},
                    "steps": sent_body["num_inference_steps"]}
    [pending] = tapes(POLL_URL + "&attempt=0")
    [ready] = tapes(POLL_URL + "&attempt=1")
    assert ready.response_json()["status"] == "Ready"
    steps, last = walk(first, submit.response_json(), pending.response_json(), ready.response_json())
    for poll in steps[1:-1]:
        assert poll.poll and poll.request.method == "GET"
        assert poll.request.url == POLL_URL
        assert poll.request.headers == {"x-key": DIRECT_KEY}  # BFL's own host: the key goes along
    sample = ready.response_json()["result"]["sample"]
    assert is_download(last, sample)
    [image] = tapes(sample)
    assert image.content_type == "image/jpeg"  # the download is media: relayed, never parsed


def test_polls_elsewhere_carry_no_key():
    first = start(P, via_hf(P), "text-to-image", "x", provider_model="flux-dev")
    steps, _ = walk(first, {"id": "j", "polling_url": POLL_URL})
    assert steps[1].request.headers == {}  # the HF token never goes to BFL
    first = start(P, direct(P), "text-to-image", "x", provider_model="flux-dev")
    steps, _ = walk(first, {"id": "j", "polling_url": "https://api.eu1.bfl.ai/v1/get_result?id=j"})
    assert steps[1].request.headers == {"x-key": DIRECT_KEY}  # a regional BFL API host
    steps, _ = walk(first, {"id": "j", "polling_url": "https://evil.example/v1/get_result?id=j"})
    assert steps[1].request.headers == {}
    steps, _ = walk(first, {"id": "j", "polling_url": "http://api.eu1.bfl.ai/v1/get_result?id=j"})
    assert steps[1].request.headers == {}  # never in clear


@pytest.mark.parametrize("status", ["Error", "Content Moderated", "Request Moderated", "Task not found"])
def test_failure_states(status):
    first = start(P, direct(P), "text-to-image", "x", provider_model="flux-dev")
    with pytest.raises(ProviderResponseError, match=status) as info:
        walk(first, {"id": "j", "polling_url": POLL_URL}, {"id": "j", "status": "Pending"},
             {"id": "j", "status": status, "result": None})
    assert info.value.provider == "black-forest-labs"


def test_broken_answers():
    first = start(P, direct(P), "text-to-image", "x", provider_model="flux-dev")
    for bad in ({"id": "j"}, {"polling_url": "ftp://x"}, {"errors": ["x"]}):
        with pytest.raises(ProviderResponseError):
            walk(first, bad)
    with pytest.raises(ProviderResponseError, match=r"result\.sample"):
        walk(first, {"polling_url": POLL_URL}, {"status": "Ready", "result": {}})
    with pytest.raises(ProviderResponseError, match="status"):
        walk(first, {"polling_url": POLL_URL}, {"detail": "Not authenticated"})
