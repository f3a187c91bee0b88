"""The one error tree of hubroute, shared by the server and the client.

    HubrouteError                      base; .status, .type, .code, .message
    ├── ConfigError                    bad configuration, refused at start (names the key)
    ├── UserError                      400 invalid_request_error
    │   ├── ModelNotFound              404 model_not_found: no catalog entry at all
    │   ├── NotSupported               400 model_not_supported: known model, no usable provider
    │   └── InvalidRequest             400 the request body is malformed (names the field)
    ├── AuthError                      401 invalid_api_key / 403 permission_denied
    ├── QuotaError                     402 insufficient_quota / 429 rate_limit_exceeded
    ├── ProviderError                  one upstream attempt failed (.provider, .status_code, .body)
    │   ├── ProviderHTTPError          the provider answered with an error status
    │   ├── ProviderConnectionError    could not connect, or the connection broke
    │   ├── ProviderTimeout            connect / first-byte / read timeout (InferenceTimeoutError)
    │   └── ProviderResponseError      the provider answered 2xx with something not valid for the API
    └── NoProviderAvailable            every candidate failed; .errors lists each attempt (404
                                       model_not_found when each said it has no such model)

`to_openai()` gives the OpenAI-shaped body `{"error": {"message", "type", "code", ...}}`; the server
has exactly one handler that calls it. Messages never contain credentials: provider bodies are
truncated and scrubbed of anything that looks like a bearer token before they are stored.
"""

from __future__ import annotations

import math
import re
from typing import Any

_SECRET = re.compile(
    r"(?i)(bearer\s+|key\s+|api[_-]?key[\"'=:\s]+|token[\"'=:\s]+)[A-Za-z0-9._\-]{8,}"
    r"|\b(?:(?:hf|sk|gsk|r8|fw|csk|nvapi)_|sk-)[A-Za-z0-9._\-]{8,}"  # hf_..., sk-proj-...; not "hf-inference"
)
_MAX_BODY = 2000
#: every credential this process was configured with; scrubbed verbatim, whatever its shape
_KNOWN_SECRETS: set[str] = set()
#: the default of `routing.max_retry_after`: the longest wait a provider's Retry-After may impose
MAX_RETRY_AFTER = 300.0


def register_secret(value: str | None) -> None:
    """Remember a configured credential so that no message can ever quote it."""
    if value and len(value) >= 6:
        _KNOWN_SECRETS.add(value)


def scrub(text: str) -> str:
    """Remove configured credentials, and anything that looks like one, from `text`; bound its length."""
    for secret in _KNOWN_SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    text = _SECRET.sub(lambda m: (m.group(1) or "") + "***", text)
    if len(text) > _MAX_BODY:
        text = text[:_MAX_BODY] + "…"
    return text


class HubrouteError(Exception):
    status: int = 500
    type: str = "server_error"
    code: str | None = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param

    def to_openai(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.param is not None:
            err["param"] = self.param
        return {"error": err}

    def headers(self, max_retry_after: float = MAX_RETRY_AFTER) -> dict[str, str]:
        """Response headers the error's answer carries; `max_retry_after` caps a `Retry-After` that
        comes from a provider (`routing.max_retry_after`)."""
        return {}


def retry_after_header(seconds: float | None, cap: float = math.inf) -> dict[str, str]:
    """`Retry-After` in whole seconds (at least 1, at most `cap`); none for a wait that is absent,
    not positive (nan included) or capped to nothing."""
    if seconds is None or not seconds > 0 or not cap > 0:
        return {}
    return {"retry-after": str(max(1, math.ceil(min(seconds, cap, 1e9))))}  # (inf capped)


class ConfigError(HubrouteError):
    """The configuration is invalid; `key` is the dotted path of the offending entry."""

    code = "invalid_config"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")
        self.key = key
        self.problem = problem


class UserError(HubrouteError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class InvalidRequest(UserError):
    pass


class ModelNotFound(UserError):
    status = 404
    code = "model_not_found"


class NotSupported(UserError):
    code = "model_not_supported"


class NotFound(UserError):
    """An account, organisation, key... that does not exist (or that the caller may not see)."""

    status = 404
    code = "not_found"


class Conflict(UserError):
    """What is being made exists already (a user or organisation of that name)."""

    status = 409
    code = "already_exists"


class Unavailable(HubrouteError):
    """Something of ours the request needs cannot be reached (the store): try again later."""

    status = 503
    type = "server_error"
    code = "service_unavailable"

    def headers(self, max_retry_after: float = MAX_RETRY_AFTER) -> dict[str, str]:
        return {"retry-after": "1"}


class AuthError(HubrouteError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(AuthError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class QuotaError(HubrouteError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"

    def __init__(self, message: str, *, retry_after: float | None = None, code: str | None = None,
                 extra: dict[str, str] | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        #: more headers the answer carries (the x-ratelimit-* of the limit reached)
        self.extra = extra or {}

    def headers(self, max_retry_after: float = MAX_RETRY_AFTER) -> dict[str, str]:
        # the router's own limits: not a provider's word, not capped
        return {**self.extra, **retry_after_header(self.retry_after)}


class PaymentRequired(QuotaError):
    status = 402
    type = "insufficient_quota"
    code = "insufficient_quota"


class ProviderError(HubrouteError):
    """One attempt at one provider failed."""

    status = 502
    type = "provider_error"
    code = "provider_error"
    #: whether trying another provider may help
    retryable: bool = True

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(scrub(message))
        self.provider = provider
        self.status_code = status_code
        self.body = scrub(body) if body else body
        self.retry_after = retry_after

    def summary(self) -> dict[str, Any]:
        """One tried provider, as an error answer's `providers` lists it: what kind of failure (`code`:
        `provider_timeout`, `provider_connection_error`, `provider_bad_response`, ...) and its status."""
        return {"provider": self.provider, "code": self.code, "status": self.status_code, "error": self.message}

    def to_openai(self) -> dict[str, Any]:
        out = super().to_openai()
        out["error"]["provider"] = self.provider
        if self.status_code is not None:
            out["error"]["provider_status"] = self.status_code
        return out


_RETRYABLE_4XX = frozenset({401, 402, 403, 404, 408, 429})


class ProviderHTTPError(ProviderError):
    code = "provider_http_error"

    def __init__(self, *, provider: str, status_code: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(
            f"{provider} answered HTTP {status_code}: {_first_message(body)}",
            provider=provider,
            status_code=status_code,
            body=body,
            retry_after=retry_after,
        )
        # 429 and 5xx may go better elsewhere, and so may our credentials (401/402/403), the
        # provider's catalog (404) or its patience (408); any other 4xx is the request's fault.
        self.retryable = status_code >= 500 or status_code in _RETRYABLE_4XX
        if 400 <= status_code < 500 and not self.retryable:
            self.status = status_code
            self.type = "invalid_request_error"


class ProviderConnectionError(ProviderError):
    code = "provider_connection_error"


class ProviderTimeout(ProviderError):
    status = 504
    type = "timeout"
    code = "provider_timeout"


#: huggingface_hub's name for the same thing; the client raises ProviderTimeout.
InferenceTimeoutError = ProviderTimeout


class ProviderResponseError(ProviderError):
    code = "provider_bad_response"


class NoProviderAvailable(HubrouteError):
    """Every candidate failed (or none could be tried). Status follows the kind of failures."""

    status = 502
    type = "provider_error"
    code = "all_providers_failed"

    def __init__(self, model: str, errors: list[ProviderError], *, message: str | None = None) -> None:
        self.errors = errors
        # every provider tried said it has no such model: the model is not found, nothing failed
        not_found = bool(errors) and all(_model_not_found(e) for e in errors)
        if message is None:
            parts = "; ".join(f"{e.provider}: {e.message}" for e in errors) or "no provider could be tried"
            message = f"All providers failed for model '{model}': {parts}"
            if not_found:
                names = ", ".join(dict.fromkeys(e.provider for e in errors))
                message = f"The model '{model}' was not found by {names} (each answered 404): {parts}"
        super().__init__(message)
        if errors and all(isinstance(e, ProviderTimeout) for e in errors):
            self.status = 504
            self.type = "timeout"
            self.code = "provider_timeout"
        elif not errors or all(
            (isinstance(e, ProviderHTTPError) and e.status_code in (429, 503)) or e.code == "circuit_open"
            for e in errors
        ):
            self.status = 503
            self.code = "providers_unavailable"
        elif not_found:
            self.status = 404
            self.type = "invalid_request_error"
            self.code = "model_not_found"
        # A client error that every provider agreed on is the client's, not ours.
        elif all(isinstance(e, ProviderHTTPError) and not e.retryable for e in errors):
            last = errors[-1]
            self.status = last.status
            self.type = "invalid_request_error"
            self.code = "provider_rejected_request"
        retry_after = [e.retry_after for e in errors if e.retry_after]
        self.retry_after = min(retry_after) if retry_after else None

    def to_openai(self) -> dict[str, Any]:
        out = super().to_openai()
        out["error"]["providers"] = [e.summary() for e in self.errors]
        return out

    def headers(self, max_retry_after: float = MAX_RETRY_AFTER) -> dict[str, str]:
        return retry_after_header(self.retry_after, max_retry_after) if self.status == 503 else {}


def _model_not_found(error: ProviderError) -> bool:
    """A provider's 404 about the model (`The model 'x' does not exist`, `model "x" not found`), not
    a bare `Not Found` (a wrong base URL, a job's result gone: failures, not a missing model)."""
    return isinstance(error, ProviderHTTPError) and error.status_code == 404 and \
        "model" in _first_message(error.body or "").lower()


def _first_message(body: str) -> str:
    """The human part of a provider's error body, whatever shape it has."""
    import orjson

    text = body.strip()
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return scrub(text[:300]) or "(empty body)"
    for path in (("error", "message"), ("error",), ("message",), ("detail",), ("detail", "message")):
        cur: Any = data
        for key in path:
            cur = cur.get(key) if isinstance(cur, dict) else None
        if isinstance(cur, str) and cur:
            return scrub(cur[:300])
    return scrub(text[:300])
