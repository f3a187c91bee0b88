"""The text-generation task (HF's `{"inputs", "parameters"}` shape) over a provider's OpenAI
completions route: the prompt and the parameters that have an OpenAI twin go over; TGI-only ones
(`details`, `watermark`, `grammar`, ...) are not sent. The answer comes back as HF's
`[{"generated_text"}]`, the prompt in front when `return_full_text` asks for it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubroute.errors import ProviderResponseError
from hubroute.providers.steps import Done, Next, Step, TaskCall, dig

if TYPE_CHECKING:
    from hubroute.providers._base import Provider, Target

#: HF text-generation parameter -> completions body key (what vLLM-style servers accept)
PARAMETERS = {
    "max_new_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "repetition_penalty": "repetition_penalty",
}


def completions_body(call: TaskCall, target: Target) -> dict[str, Any]:
    body: dict[str, Any] = {"model": target.provider_model, "prompt": call.inputs}
    for name, key in PARAMETERS.items():
        value = call.parameters.get(name)
        if value is not None:
            body[key] = value
    return body


def text_generation(provider: Provider, call: TaskCall, target: Target) -> Next:
    request = provider.build_completion(completions_body(call, target), target)
    prefix = call.inputs if call.parameters.get("return_full_text") and isinstance(call.inputs, str) else ""

    def parse(answer: Any) -> Step:
        text = dig(provider.name, provider.check_completion(answer), "choices", 0, "text")
        if not isinstance(text, str):
            raise ProviderResponseError(f"{provider.name} answered a completion without text",
                                        provider=provider.name, status_code=200)
        return Done([{"generated_text": prefix + text}])

    return Next(request, parse)


__all__ = ["PARAMETERS", "completions_body", "text_generation"]
