from __future__ import annotations

from hubroute.errors import (
    NoProviderAvailable,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeout,
    scrub,
)


def test_scrub_removes_credentials() -> None:
    text = 'bad key "Bearer sk-abcdefghijklmnop" and hf_ABCDEFGHIJKLMNOP and api_key=xyz12345678'
    out = scrub(text)
    assert "sk-abcdefghijklmnop" not in out and "hf_ABCDEFGHIJKLMNOP" not in out and "xyz12345678" not in out


def test_scrub_keeps_provider_names() -> None:
    assert scrub("hf-inference answered 500; sk-proj-abcdefghijk too") == "hf-inference answered 500; *** too"


def test_http_error_message_and_retryability() -> None:
    e = ProviderHTTPError(provider="groq", status_code=429, body='{"error": {"message": "slow down"}}', retry_after=3)
    assert e.retryable and "slow down" in e.message and e.status_code == 429
    bad = ProviderHTTPError(provider="groq", status_code=400, body='{"message": "max_tokens too large"}')
    assert not bad.retryable and bad.status == 400 and "max_tokens too large" in bad.message
    assert ProviderHTTPError(provider="x", status_code=503, body="<html>").retryable


def test_no_provider_available_status_and_body() -> None:
    timeouts = [ProviderTimeout("t", provider="a"), ProviderTimeout("t", provider="b")]
    assert NoProviderAvailable("m", timeouts).status == 504
    busy = [ProviderHTTPError(provider="a", status_code=429, body="", retry_after=7)]
    err = NoProviderAvailable("m", busy)
    assert err.status == 503 and err.headers() == {"retry-after": "7"}
    mixed = NoProviderAvailable("m", [ProviderConnectionError("refused", provider="a"),
                                      ProviderHTTPError(provider="b", status_code=500, body="boom")])
    body = mixed.to_openai()["error"]
    assert mixed.status == 502 and body["code"] == "all_providers_failed"
    assert [p["provider"] for p in body["providers"]] == ["a", "b"]
    assert "a: refused" in body["message"]
