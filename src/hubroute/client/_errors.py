"""The client's errors: hubroute's one error tree, rebuilt from a router's answer in routed mode, plus
huggingface_hub's `InferenceTimeoutError`.

A router answers errors as `{"error": {"message", "type", "code", "provider"?, "provider_status"?,
"providers"?}}` with a fitting status; `from_answer()` turns that back into the class the router
raised, so `except NoProviderAvailable` (with `.errors`, one per provider tried) or
`except ProviderHTTPError` (with `.provider`, `.status_code`, `.body`) work the same in both modes.
"""

from __future__ import annotations

from typing import Any

import orjson

from hubroute.errors import (
    AuthError,
    HubrouteError,
    InvalidRequest,
    ModelNotFound,
    NoProviderAvailable,
    NotSupported,
    PaymentRequired,
    PermissionDenied,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeout,
    QuotaError,
)


class InferenceTimeoutError(ProviderTimeout, TimeoutError):
    """The call did not finish within the client's `timeout` (or every provider timed out).
    Both hubroute's `ProviderTimeout` and Python's `TimeoutError`, as in huggingface_hub.
    `.errors` lists the attempts when a router or the direct mode tried several providers."""

    def __init__(self, message: str, *, provider: str = "hubroute",
                 errors: list[ProviderError] | None = None) -> None:
        super().__init__(message, provider=provider)
        self.errors: list[ProviderError] = errors or []


def timed_out(exc: BaseException, what: str) -> InferenceTimeoutError:
    """The InferenceTimeoutError for a timeout (ours, the transport's, or all providers')."""
    if isinstance(exc, InferenceTimeoutError):
        return exc
    if isinstance(exc, NoProviderAvailable):
        last = exc.errors[-1].provider if exc.errors else "hubroute"
        return InferenceTimeoutError(exc.message, provider=last, errors=exc.errors)
    if isinstance(exc, ProviderTimeout):
        return InferenceTimeoutError(exc.message, provider=exc.provider, errors=[exc])
    return InferenceTimeoutError(f"Inference call timed out: {what}")


_BY_CODE: dict[str, type[HubrouteError]] = {
    "model_not_found": ModelNotFound,
    "model_not_supported": NotSupported,
    "invalid_api_key": AuthError,
    "permission_denied": PermissionDenied,
    "insufficient_quota": PaymentRequired,
    "rate_limit_exceeded": QuotaError,
    "provider_timeout": ProviderTimeout,
    "provider_connection_error": ProviderConnectionError,
    "provider_bad_response": ProviderResponseError,
}


def from_answer(status: int, body: bytes, provider: str | None, model: str) -> HubrouteError:
    """The error a router (or an OpenAI-compatible server) answered, as our error class."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        text = body[:2000].decode(errors="replace")
        message = err if isinstance(err, str) else text or f"HTTP {status}"
        return _status_error(status, message, provider or "hubroute", text)
    message = str(err.get("message") or f"HTTP {status}")
    code = err.get("code") if isinstance(err.get("code"), str) else None
    if isinstance(err.get("providers"), list):
        attempts = [_attempt(p) for p in err["providers"] if isinstance(p, dict)]
        exc: HubrouteError = NoProviderAvailable(model, attempts, message=message)
        if status == 504 or code == "provider_timeout":
            return timed_out(exc, model)
    elif "provider" in err:
        exc = _provider_error(err, message, code, status)
        if isinstance(exc, ProviderTimeout):
            return timed_out(exc, model)
    else:
        cls = _BY_CODE.get(code or "") or _by_status(status)
        exc = _make(cls, message, code, err.get("param"))
    exc.status = status
    if code:
        exc.code = code
    if isinstance(err.get("type"), str):
        exc.type = err["type"]
    return exc


def _make(cls: type[HubrouteError], message: str, code: str | None, param: Any) -> HubrouteError:
    if issubclass(cls, ProviderError):
        return cls(message, provider="hubroute")
    if issubclass(cls, QuotaError):
        return cls(message, code=code)
    return cls(message, code=code, param=param if isinstance(param, str) else None)


def _by_status(status: int) -> type[HubrouteError]:
    if status == 401:
        return AuthError
    if status == 403:
        return PermissionDenied
    if status == 402:
        return PaymentRequired
    if status == 429:
        return QuotaError
    if status == 404:
        return ModelNotFound
    if 400 <= status < 500:
        return InvalidRequest
    return HubrouteError


def _status_error(status: int, message: str, provider: str, body: str) -> HubrouteError:
    """A non-JSON error answer: from the server itself when it is no hubroute router."""
    if status >= 500:
        return ProviderHTTPError(provider=provider, status_code=status, body=body)
    exc = _make(_by_status(status), message, None, None)
    exc.status = status
    return exc


def _provider_error(err: dict[str, Any], message: str, code: str | None, status: int) -> ProviderError:
    provider = str(err.get("provider") or "unknown")
    provider_status = err.get("provider_status")
    if code == "provider_http_error" or (isinstance(provider_status, int) and code not in _BY_CODE):
        exc: ProviderError = ProviderHTTPError(
            provider=provider, status_code=provider_status if isinstance(provider_status, int) else status,
            body=str(err.get("body") or message),
        )
        exc.message, exc.args = message, (message,)
        return exc
    cls = _BY_CODE.get(code or "")
    kind = cls if cls is not None and issubclass(cls, ProviderError) else ProviderError
    return kind(message, provider=provider, status_code=provider_status if isinstance(provider_status, int) else None)


def _attempt(summary: dict[str, Any]) -> ProviderError:
    """One entry of `error.providers`: {"provider", "status", "error"}."""
    provider = str(summary.get("provider") or "unknown")
    status = summary.get("status")
    message = str(summary.get("error") or "")
    if isinstance(status, int):
        exc: ProviderError = ProviderHTTPError(provider=provider, status_code=status, body=message)
        exc.message, exc.args = message, (message,)
        return exc
    if "did not answer within" in message or "timed out" in message or "went silent" in message:
        return ProviderTimeout(message, provider=provider)
    return ProviderError(message, provider=provider)
