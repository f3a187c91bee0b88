"""Usage: read from what providers report, counted when they report nothing, priced per unit."""

from __future__ import annotations

import pytest

from hubroute.catalog import Pricing
from hubroute.usage import Usage, estimate_tokens, prompt_length, prompt_text, task_usage


def test_openai_usage_with_details() -> None:
    usage = Usage.from_openai({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                               "prompt_tokens_details": {"cached_tokens": 60},
                               "completion_tokens_details": {"reasoning_tokens": 15}})
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.input_cached, usage.output_reasoning) == (100, 20, 60, 15)
    assert usage.to_json() == {"input_tokens": 100, "output_tokens": 20, "input_cached": 60,
                               "output_reasoning": 15, "requests": 1, "source": "provider"}


@pytest.mark.parametrize("obj", [None, "x", {}, {"total_tokens": 3}, {"prompt_tokens": "7"},
                                 {"prompt_tokens": -1}, {"prompt_tokens": True}])
def test_not_a_usage_object(obj: object) -> None:
    assert Usage.from_openai(obj) is None


def test_zero_is_kept_and_anthropic_names_are_read() -> None:
    assert Usage.from_openai({"prompt_tokens": 0, "completion_tokens": 0}) == Usage(input_tokens=0, output_tokens=0)
    usage = Usage.from_openai({"input_tokens": 5, "output_tokens": 2, "cache_read_input_tokens": 4})
    assert usage == Usage(input_tokens=5, output_tokens=2, input_cached=4)


def test_cost_per_unit() -> None:
    pricing = Pricing(input=2.0, output=8.0, cached_input=0.5)
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, input_cached=400_000)
    assert usage.cost(pricing) == pytest.approx(600_000 * 2.0 / 1e6 + 400_000 * 0.5 / 1e6 + 4.0)
    assert Usage(input_tokens=10, input_cached=10).cost(Pricing(input=1.0)) == pytest.approx(10 / 1e6)
    assert Usage(images=3, requests=3).cost(Pricing(image=0.04)) == pytest.approx(0.12)
    assert Usage(characters=2_000_000).cost(Pricing(characters=15.0)) == pytest.approx(30.0)
    assert Usage(seconds=90.0).cost(Pricing(second=0.0001)) == pytest.approx(0.009)
    assert Usage(requests=1).cost(Pricing(request=0.002)) == pytest.approx(0.002)
    assert Usage(input_tokens=5).cost(None) is None
    assert Usage(input_tokens=5).cost(Pricing(image=1.0)) is None  # nothing used has a price


def test_counting_text() -> None:
    assert (estimate_tokens(""), estimate_tokens("abc"), estimate_tokens("x" * 41)) == (0, 1, 11)
    body = {"messages": [{"role": "user", "content": "hello"},
                         {"role": "user", "content": [{"type": "text", "text": "world"},
                                                      {"type": "image_url", "image_url": {"url": "data:"}}]}]}
    assert prompt_text(body) == "hello\nworld"
    assert prompt_text({"prompt": ["a", "b"]}) == "a\nb" and prompt_text({"input": "emb"}) == "emb"


@pytest.mark.parametrize("body", [
    {}, {"messages": []}, {"messages": [{"content": ""}]}, {"messages": [{"content": ""}, {"content": ""}]},
    {"messages": [{"content": "héllo"}, {"content": [{"type": "text", "text": "wörld"}, {"type": "image_url"}]}]},
    {"prompt": ["a", "bb", 3]}, {"input": ["x", "yz"]}, {"messages": [{"content": "q"}], "prompt": "p", "input": "i"},
])
def test_a_prompts_length_is_counted_without_joining_it(body: dict[str, object]) -> None:
    """What a request's worst case is priced on (its characters, then its tokens): the joined text's."""
    assert prompt_length(body) == len(prompt_text(body))


def test_task_units() -> None:
    assert task_usage("text-to-image", "a cat", None, count=2).to_json() == {"images": 2, "requests": 2,
                                                                             "source": "hubroute"}
    assert task_usage("text-to-speech", "hello there", None).characters == 11
    asr = task_usage("automatic-speech-recognition", b"...", {"text": "hi", "chunks": [
        {"text": "hi", "timestamp": [0.0, 1.5]}, {"text": "there", "timestamp": [1.5, 3.25]}]})
    assert asr.seconds == 3.25
    assert task_usage("automatic-speech-recognition", b"...", {"text": "hi"}).seconds is None
    gen = task_usage("text-generation", "x" * 8, [{"generated_text": "y" * 12}])
    assert (gen.input_tokens, gen.output_tokens) == (2, 3)
    assert task_usage("text-classification", "great", [{"label": "POSITIVE"}]).to_json() == {
        "requests": 1, "source": "hubroute"}
