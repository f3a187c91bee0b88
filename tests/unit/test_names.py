from __future__ import annotations

import pytest

from hubroute.errors import InvalidRequest
from hubroute.routing.names import ModelName, parse_model_name

KNOWN = frozenset({"groq", "together", "fireworks-ai"})


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("meta-llama/Llama-3.3-70B-Instruct", ModelName("meta-llama/Llama-3.3-70B-Instruct")),
        ("meta-llama/Llama-3.3-70B-Instruct:groq", ModelName("meta-llama/Llama-3.3-70B-Instruct", provider="groq")),
        ("org/m:fireworks-ai", ModelName("org/m", provider="fireworks-ai")),
        ("org/m:fastest", ModelName("org/m", policy="fastest")),
        ("org/m:cheapest", ModelName("org/m", policy="cheapest")),
        ("org/m:preferred", ModelName("org/m", policy="preferred")),
        ("org/m:auto", ModelName("org/m")),
        ("  org/m  ", ModelName("org/m")),
        ("http://host:8080/v1", ModelName("http://host:8080/v1")),
        ("my-alias", ModelName("my-alias")),
    ],
)
def test_parse(name: str, expected: ModelName) -> None:
    assert parse_model_name(name, KNOWN) == expected


def test_unknown_suffix_is_a_clear_400() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_model_name("org/m:nonsense", KNOWN)
    assert info.value.status == 400 and info.value.param == "model"
    assert ":nonsense" in info.value.message and ":cheapest" in info.value.message


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_empty_or_non_string(bad: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_model_name(bad, KNOWN)  # type: ignore[arg-type]


def test_str_round_trips() -> None:
    assert str(ModelName("a/b", provider="groq")) == "a/b:groq"
    assert str(ModelName("a/b")) == "a/b"
