from __future__ import annotations

import pytest

from hubroute.config import Settings
from hubroute.errors import ConfigError

DESIGN_EXAMPLE = """
server:
  master_key: os.environ/HUBROUTE_MASTER_KEY
huggingface:
  token: os.environ/HF_TOKEN
  base_url: https://router.huggingface.co
providers:
  together:
    api_key: os.environ/TOGETHER_API_KEY
    base_url: https://api.together.xyz
  my-vllm:
    type: openai-compatible
    base_url: http://127.0.0.1:8000/v1
models:
  - id: meta-llama/Llama-3.3-70B-Instruct
    task: conversational
    providers:
      - provider: groq
        provider_id: llama-3.3-70b-versatile
        pricing: {input: 0.59, output: 0.79}
      - provider: together
        provider_id: meta-llama/Llama-3.3-70B-Instruct-Turbo
model_list:
  - model_name: my-r1-model
    litellm_params:
      model: huggingface/together/deepseek-ai/DeepSeek-R1
      api_key: os.environ/HF_TOKEN
"""
ENV = {"HUBROUTE_MASTER_KEY": "sk-master-123456", "HF_TOKEN": "hf_abcdefgh", "TOGETHER_API_KEY": "tk-1234567"}


def test_design_example_parses_with_env_values() -> None:
    s = Settings.parse(DESIGN_EXAMPLE, ENV)
    assert s.server.master_key == "sk-master-123456"
    assert s.huggingface.token == "hf_abcdefgh"
    assert s.providers["together"].api_key == "tk-1234567"
    assert s.providers["my-vllm"].type == "openai-compatible"
    assert s.models[0].providers[0].pricing is not None
    assert s.models[0].providers[0].pricing.output == 0.79
    assert s.model_list[0].litellm_params.api_key == "hf_abcdefgh"


def test_defaults_without_file() -> None:
    s = Settings.from_env({})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8080)
    assert s.server.master_key is None and s.huggingface.token is None
    assert s.hub_url == "https://huggingface.co"


def test_env_defaults_fill_token_master_key_and_hub() -> None:
    s = Settings.from_env({"HF_TOKEN": "hf_x1234567", "HUBROUTE_MASTER_KEY": "k" * 10, "HF_ENDPOINT": "http://hub.local/"})
    assert s.huggingface.token == "hf_x1234567"
    assert s.server.master_key == "k" * 10
    assert s.hub_url == "http://hub.local"


def test_hf_token_variables_in_order_litellms_too() -> None:
    assert Settings.from_env({"HUGGINGFACE_API_KEY": "hf_litellm1"}).huggingface.token == "hf_litellm1"
    both = {"HUGGINGFACE_API_KEY": "hf_litellm1", "HF_TOKEN": "hf_official"}
    assert Settings.from_env(both).huggingface.token == "hf_official"
    assert Settings.from_env({"HF_TOKEN": ""}).huggingface.token is None
    assert Settings.parse("huggingface: {token: hf_config1}", both).huggingface.token == "hf_config1"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("server: {port: eighty}", "server.port", "expected `int`"),
        ("server: {prot: 80}", "server.prot", "unknown key"),
        ("server: {port: 70000}", "server.port", "not a TCP port"),
        ("server: {master_key: os.environ/NOPE}", "server.master_key", "NOPE is not set"),
        ("providers: {x: {type: openai-compatible}}", "providers.x.base_url", "required"),
        ("providers: {x: {type: weird, base_url: 'http://a'}}", "providers.x.type", "invalid enum"),
        ("providers: {together: {base_url: 'ftp://x'}}", "providers.together.base_url", "not an http(s) URL"),
        ("models: [{task: conversational}]", "models[0].id", "required"),
        ("routing: {default_policy: random}", "routing.default_policy", "invalid enum"),
        ("routing: {timeouts: {connect: 0}}", "routing.timeouts.connect", "positive"),
        ("model_list: [{model_name: a}]", "model_list[0].litellm_params", "required"),
        ("inputs: {max_byte: 10}", "inputs.max_byte", "unknown key"),
        ("inputs: {allow_private: maybe}", "inputs.allow_private", "expected `bool`"),
        ("store: {ledger_retention_days: 31.9}", "store.ledger_retention_days", "at least 32"),
        ("store: {ledger_retention_days: 0}", "store.ledger_retention_days", "at least 32"),
        ("store: {ledger_retention_days: -1}", "store.ledger_retention_days", "at least 32"),
        ("store: {ledger_retention_days: .nan}", "store.ledger_retention_days", "expected `float`"),
        ("store: {ledger_retention_days: forever}", "store.ledger_retention_days", "expected `float | null`"),
    ],
)
def test_bad_config_names_key_and_problem(text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.parse(text, {})
    assert info.value.key == key
    assert problem.lower() in info.value.problem.lower()
    assert info.value.message.startswith(f"config: {key}: ")


def test_the_ledger_keeps_everything_unless_a_retention_of_32_days_or_more_is_set() -> None:
    assert Settings.from_env({}).store.ledger_retention_days is None
    assert Settings.parse("store: {ledger_retention_days: null}", {}).store.ledger_retention_days is None
    assert Settings.parse("store: {ledger_retention_days: 32}", {}).store.ledger_retention_days == 32
    assert Settings.parse("store: {ledger_retention_days: 400}", {}).store.ledger_retention_days == 400


def test_invalid_yaml_reports_line() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.parse("server:\n  port: [1,\n", {})
    assert "not valid YAML" in info.value.message and "line" in info.value.message


def test_top_level_must_be_mapping() -> None:
    with pytest.raises(ConfigError, match="mapping"):
        Settings.parse("- a\n- b\n", {})


def test_litellm_params_keep_unknown_keys() -> None:
    s = Settings.parse("model_list: [{model_name: a, litellm_params: {model: openai/x, rpm: 10}}]", {})
    assert s.model_list[0].litellm_params.model == "openai/x"
