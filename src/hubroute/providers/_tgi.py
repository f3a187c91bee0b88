"""OpenAI's completions API over TGI's native generate API (`POST /models/{model}` on HF Inference).

    completion_payload(body)   OpenAI completions body -> TGI's `{"inputs", "parameters", "stream"}`
    completion(data)           TGI's answer (`[{"generated_text", "details"}]`) -> an OpenAI `text_completion`
    completion_chunk(event)    one TGI stream event (`{"index", "token", "generated_text", "details"}`) ->
                               an OpenAI completion chunk

The parameters are translated as TGI's own `/v1/completions` route does: sampling unless
`temperature` is 0 (greedy, the temperature left out), `max_tokens` as `max_new_tokens`, `stop` as a
list. `details` is always asked for, so the answer carries its finish reason and token count;
`return_full_text` is off unless `echo` asks for the prompt in front. OpenAI parameters TGI has no
twin for (`n`, `logprobs`, `presence_penalty`, `logit_bias`, `suffix`, `user`...) are not sent.
TGI's stream ends without `[DONE]`: the relay adds it when the upstream closes.
"""

from __future__ import annotations

import time
from typing import Any

from hubroute.errors import InvalidRequest, ProviderResponseError

#: OpenAI completions key -> TGI parameter, for those passed as they are
_SAME = {"max_tokens": "max_new_tokens", "top_k": "top_k", "seed": "seed",
         "frequency_penalty": "frequency_penalty", "repetition_penalty": "repetition_penalty"}
#: TGI's finish reasons -> OpenAI's
FINISH = {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest("TGI takes one text prompt: 'prompt' must be a string (not a batch or token ids)",
                             param="prompt")
    return prompt


def completion_payload(body: dict[str, Any]) -> dict[str, Any]:
    """TGI's generate body for an OpenAI completions body (the same body huggingface_hub's
    `text_generation(prompt, details=True, do_sample=..., return_full_text=..., ...)` sends)."""
    stream = bool(body.get("stream"))
    if stream and body.get("echo"):
        raise InvalidRequest("'echo' is not supported on a streamed TGI completion", param="echo")
    parameters: dict[str, Any] = {"details": True}
    temperature = body.get("temperature")
    parameters["do_sample"] = temperature is None or temperature > 0
    if temperature:
        parameters["temperature"] = temperature
    for key, name in _SAME.items():
        if body.get(key) is not None:
            parameters[name] = body[key]
    top_p = body.get("top_p")
    if top_p is not None and top_p < 1:  # TGI refuses top_p >= 1 (no truncation: the same as none)
        parameters["top_p"] = top_p
    stop = body.get("stop")
    if stop:
        parameters["stop"] = [stop] if isinstance(stop, str) else list(stop)
    parameters["return_full_text"] = bool(body.get("echo"))
    payload: dict[str, Any] = {"inputs": _prompt(body), "parameters": parameters}
    if stream:
        payload["stream"] = True
    return payload


def _choice(text: str, finish: str | None) -> dict[str, Any]:
    return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}


def _finish(details: Any, default: str | None) -> str | None:
    if isinstance(details, dict):
        return FINISH.get(details.get("finish_reason") or "", "stop")
    return default


def completion(provider: str, data: Any) -> dict[str, Any]:
    """TGI's answer (`[{"generated_text", "details"?}]` or the object alone) as OpenAI's."""
    item = data[0] if isinstance(data, list) and data else data
    text = item.get("generated_text") if isinstance(item, dict) else None
    if not isinstance(text, str):
        raise ProviderResponseError(f"{provider} answered text-generation without 'generated_text'",
                                    provider=provider, status_code=200)
    details = item.get("details")
    answer: dict[str, Any] = {"id": "", "object": "text_completion", "created": int(time.time()), "model": "",
                              "choices": [_choice(text, _finish(details, "stop"))]}
    usage = _usage(details)
    if usage is not None:
        answer["usage"] = usage
    return answer


def _usage(details: Any) -> dict[str, int] | None:
    """OpenAI's usage from TGI's `details` (None without a token count)."""
    if not isinstance(details, dict) or not isinstance(details.get("generated_tokens"), int):
        return None
    completion_tokens = details["generated_tokens"]
    prompt_tokens = details.get("input_length")
    if not isinstance(prompt_tokens, int):
        prefill = details.get("prefill")
        prompt_tokens = len(prefill) if isinstance(prefill, list) else 0
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def is_event(obj: dict[str, Any]) -> bool:
    """Whether a streamed object is a TGI token event (not an OpenAI chunk)."""
    return "token" in obj and "choices" not in obj


def completion_chunk(event: dict[str, Any]) -> dict[str, Any]:
    """One TGI token event as an OpenAI completion chunk. A special token (`</s>`, `<|eot_id|>`)
    gives no text; the last event (its `generated_text` set) carries the finish reason."""
    token = event.get("token")
    text = ""
    if isinstance(token, dict) and not token.get("special") and isinstance(token.get("text"), str):
        text = token["text"]
    last = event.get("generated_text") is not None or event.get("details") is not None
    finish = _finish(event.get("details"), "stop" if last else None)
    chunk: dict[str, Any] = {"id": "", "object": "text_completion", "created": int(time.time()), "model": "",
                             "choices": [_choice(text, finish)]}
    usage = _usage(event.get("details")) if last else None
    if usage is not None:  # the last event's token count: metered, sent on if the client asked
        chunk["usage"] = usage
    return chunk


__all__ = ["FINISH", "completion", "completion_chunk", "completion_payload", "is_event"]
