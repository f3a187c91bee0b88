"""`AsyncInferenceClient`: huggingface_hub's client, with the same constructor and methods, over
hubroute. The synchronous `InferenceClient` is derived from this class (`_sync.py`).

Mode: with `base_url` (or a URL as `model`, or $HUBROUTE_BASE_URL) the client is *routed*: a hubroute
router picks the provider. Otherwise it is *direct*: the router's engine runs in-process with the
provider keys of the config file ($HUBROUTE_CONFIG), the environment and `api_key`, and
`provider="auto"` fails over to the next provider when one fails.

Every task method builds Hugging Face's payload (`{"inputs", "parameters"}`) and returns HF's output
shape: records named after `<Task>Output` with attribute and dict access, numpy arrays, PIL images
or bytes. Chat and text-generation streams are async iterators.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Awaitable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from hubroute import __version__
from hubroute import task_names as tn
from hubroute.client import _outputs as out
from hubroute.client._backend import CHAT_ROUTE, COMPLETIONS_ROUTE, Answer, Backend
from hubroute.client._errors import timed_out
from hubroute.client._inputs import Content, ContentT, read_content
from hubroute.errors import InvalidRequest, NoProviderAvailable, ProviderTimeout

if TYPE_CHECKING:  # loads aiohttp: imported when a call needs it, not with the client
    from hubroute.client._routed import Routed
    from hubroute.config import Settings

T = TypeVar("T")
BILL_TO = "X-HF-Bill-To"


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _is_url(value: str | None) -> bool:
    return bool(value) and value.startswith(("http://", "https://"))  # type: ignore[union-attr]


class _Completions:
    def __init__(self, client: Any) -> None:
        self.create = client.chat_completion


class _Chat:
    """`client.chat.completions.create(...)`: OpenAI's spelling of `chat_completion`."""

    def __init__(self, client: Any) -> None:
        self.completions = _Completions(client)


class AsyncInferenceClient:
    """A client for every Hugging Face task, routed through a hubroute router or direct to providers.

    Args: as huggingface_hub's `AsyncInferenceClient` (`model`, `provider`, `token`/`api_key`,
    `timeout`, `headers`, `cookies`, `bill_to`, `base_url`), plus `config`: a hubroute config file
    (or Settings) for direct mode, instead of $HUBROUTE_CONFIG, and `environ` (default os.environ).
    Unlike huggingface_hub, `base_url` (the router) and `model` (a Hub model id) go together.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        provider: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        bill_to: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        config: str | Path | Settings | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if _is_url(model) and base_url is not None:
            raise ValueError("Received both a URL as `model` and `base_url`. Please provide only one of them.")
        if token is not None and api_key is not None:
            raise ValueError("Received both `token` and `api_key` arguments. Please provide only one of them.")
        env = os.environ if environ is None else environ
        self.token: str | None = token if token is not None else api_key
        self.provider = provider
        self.timeout = timeout
        self.cookies = cookies
        self.headers: dict[str, str] = dict(headers or {})
        self.bill_to = bill_to
        if bill_to is not None:
            self.headers[BILL_TO] = bill_to
        self.base_url: str | None = base_url or (model if _is_url(model) else None) or env.get("HUBROUTE_BASE_URL")
        self.model: str | None = None if _is_url(model) else model
        #: a URL given as `model` is an OpenAI-compatible server (TGI, vLLM, an Inference Endpoint) that
        #: serves one model: calls without a model name it as TGI does
        self._endpoint_model = "tgi" if _is_url(model) else None
        if cookies:
            self.headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        self._settings: Settings | None = None
        if self.base_url is None:
            from hubroute.client._direct import settings_for

            self._settings = settings_for(provider, self.token, config, env)
        self._environ = env
        self._backend_: Backend | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the sender for Inference Endpoint URLs given as a call's model (made when first needed)
        self._endpoint_: Routed | None = None
        self._endpoint_loop: asyncio.AbstractEventLoop | None = None
        #: the Hub's recommended model per task (fetched once, when a task is called with no model)
        self._recommended: dict[str, str] | None = None
        self.chat = _Chat(self)

    def __repr__(self) -> str:
        mode = f"base_url='{self.base_url}'" if self.base_url else "direct"
        return f"<AsyncInferenceClient(model='{self.model or ''}', {mode}, timeout={self.timeout})>"

    @property
    def mode(self) -> Literal["routed", "direct"]:
        return "routed" if self.base_url else "direct"

    async def __aenter__(self) -> AsyncInferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def opened(self) -> bool:
        """Whether the client holds connections (a backend or an endpoint) that close() releases."""
        return self._backend_ is not None or self._endpoint_ is not None

    async def close(self) -> None:
        if self._backend_ is not None:
            backend, self._backend_ = self._backend_, None
            await backend.aclose()
        if self._endpoint_ is not None:
            endpoint, self._endpoint_ = self._endpoint_, None
            await endpoint.aclose()

    # --- plumbing ----------------------------------------------------------------------------------
    def _backend(self) -> Backend:
        """The mode's backend, bound to the running event loop (made anew on another loop)."""
        loop = asyncio.get_running_loop()
        if self._backend_ is None or self._loop is not loop:
            agent = f"hubroute-client/{__version__}"
            if self.base_url is not None:
                from hubroute.client._routed import Routed

                # the router's key; else, as huggingface_hub and LiteLLM do, the HF token
                token = self.token or self._environ.get("HUBROUTE_API_KEY") or self._environ.get("HF_TOKEN")
                self._backend_ = Routed(self.base_url, token=token, headers=self.headers,
                                        timeout=self.timeout, user_agent=agent)
            else:
                from hubroute.client._direct import Direct

                assert self._settings is not None
                extra = {k: v for k, v in self.headers.items() if k != BILL_TO}
                self._backend_ = Direct(self._settings, environ=self._environ, headers=extra,
                                        bill_to=self.bill_to, user_agent=agent)
            self._loop = loop
        return self._backend_

    def _model(self, model: str | None) -> str:
        chosen = model or self.model or self._endpoint_model
        if not chosen:
            raise InvalidRequest("a model is required: pass `model=` to the call or to the client", param="model")
        return chosen

    async def _timed(self, call: Awaitable[T], what: str) -> T:
        """`call` within the client's timeout; every kind of timeout leaves as InferenceTimeoutError."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except (TimeoutError, ProviderTimeout) as exc:
            raise timed_out(exc, what) from exc
        except NoProviderAvailable as exc:
            if exc.code == "provider_timeout":
                raise timed_out(exc, what) from exc
            raise

    def _endpoint(self) -> Routed:
        """The sender for Inference Endpoint URLs, with the client's token (else the HF token)."""
        from hubroute.client._routed import Routed

        loop = asyncio.get_running_loop()
        if self._endpoint_ is None or self._endpoint_loop is not loop:
            hf = self._settings.huggingface.token if self._settings is not None else None
            token = self.token or hf or self._environ.get("HF_TOKEN")
            self._endpoint_ = Routed("http://endpoint", token=token, headers=self.headers, timeout=self.timeout,
                                     user_agent=f"hubroute-client/{__version__}")
            self._endpoint_loop = loop
        return self._endpoint_

    async def _recommended_model(self, task: str) -> str:
        """As huggingface_hub does when no model is given: the task's recommended model on the Hub
        (`/api/tasks`, its first `widgetModels`), served by HF Inference."""
        if self._recommended is None:
            from hubroute.config import DEFAULT_HUB

            hub = (self._settings.hub_url if self._settings is not None
                   else self._environ.get("HF_ENDPOINT", DEFAULT_HUB).rstrip("/"))
            transport = self._backend().transport
            try:
                async with transport.session.get(f"{hub}/api/tasks") as resp:
                    data = await resp.json(content_type=None) if resp.status == 200 else None
            except Exception as exc:
                raise InvalidRequest(f"a model is required: pass `model=` (the Hub's recommended models "
                                     f"could not be fetched: {exc.__class__.__name__})", param="model") from None
            self._recommended = {
                name: models[0] for name, info in (data or {}).items()
                if isinstance(info, dict) and isinstance(models := info.get("widgetModels"), list)
                and models and isinstance(models[0], str)
            }
        chosen = self._recommended.get(task)
        if chosen is None:
            raise InvalidRequest(f"a model is required: pass `model=` (the Hub recommends none for {task})",
                                 param="model")
        return chosen

    async def _task(self, task: str, model: str | None, inputs: Any, parameters: dict[str, Any] | None = None,
                    **top: Any) -> Answer:
        payload: dict[str, Any] = {"inputs": inputs}
        if parameters:
            payload["parameters"] = parameters
        payload.update(_params(**top))
        # an Inference Endpoint's URL, given to the call or (with no model named) to the client
        url = model if _is_url(model) else None
        if url is None and model is None and self.model is None and self._endpoint_model is not None:
            url = self.base_url
        if url is not None:
            return await self._timed(self._endpoint().endpoint_task(url, payload), f"{task} on {url}")
        name, provider = await self._chosen(task, model)
        return await self._timed(self._backend().task(task, name, payload, provider), f"{task} on {name}")

    async def _chosen(self, task: str, model: str | None) -> tuple[str, str | None]:
        """(model, provider) of a call: no model anywhere and no provider named means, as in
        huggingface_hub, the Hub's recommended model on HF Inference."""
        if model is None and self.model is None and self._endpoint_model is None \
                and self.provider in (None, "auto"):
            recommended = await self._recommended_model(task)
            serve = getattr(self._backend(), "serve_recommended", None)  # direct mode's catalog
            if serve is not None:
                serve(recommended, task)
            return recommended, "hf-inference"
        return self._model(model), self.provider

    async def _content(self, value: ContentT, field: str) -> Content:
        return await read_content(value, field, self._backend().transport)

    async def _typed(self, task: str, model: str | None, inputs: Any, parameters: dict[str, Any] | None = None,
                     **top: Any) -> Any:
        return out.task_output(task, await self._task(task, model, inputs, parameters, **top))

    # --- chat and text generation ------------------------------------------------------------------
    async def chat_completion(
        self,
        messages: list[Any],
        *,
        model: str | None = None,
        stream: bool = False,
        frequency_penalty: float | None = None,
        logit_bias: list[float] | None = None,
        logprobs: bool | None = None,
        max_tokens: int | None = None,
        n: int | None = None,
        presence_penalty: float | None = None,
        response_format: Any = None,
        seed: int | None = None,
        stop: list[str] | None = None,
        stream_options: Any = None,
        temperature: float | None = None,
        tool_choice: Any = None,
        tool_prompt: str | None = None,
        tools: list[Any] | None = None,
        top_logprobs: int | None = None,
        top_p: float | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> Any:
        """OpenAI's chat completion; `stream=True` gives an async iterator of chunks."""
        name = self._model(model)
        body = {"model": name, "messages": messages, **_params(
            frequency_penalty=frequency_penalty, logit_bias=logit_bias, logprobs=logprobs, max_tokens=max_tokens,
            n=n, presence_penalty=presence_penalty, response_format=response_format, seed=seed, stop=stop,
            stream_options=stream_options, temperature=temperature, tool_choice=tool_choice,
            tool_prompt=tool_prompt, tools=tools, top_logprobs=top_logprobs, top_p=top_p), **(extra_body or {})}
        backend = self._backend()
        if stream:
            chunks = await self._timed(backend.openai_stream(CHAT_ROUTE, body, self.provider), f"chat on {name}")
            return out.Stream(chunks, out.chat_chunk)
        answer = await self._timed(backend.openai(CHAT_ROUTE, body, self.provider), f"chat on {name}")
        return out.served(out.wrap(answer.data, out.ChatCompletionOutput), answer.provider)

    async def text_generation(
        self,
        prompt: str,
        *,
        details: bool | None = None,
        stream: bool | None = None,
        model: str | None = None,
        adapter_id: str | None = None,
        best_of: int | None = None,
        decoder_input_details: bool | None = None,
        do_sample: bool | None = None,
        frequency_penalty: float | None = None,
        grammar: Any = None,
        max_new_tokens: int | None = None,
        repetition_penalty: float | None = None,
        return_full_text: bool | None = None,
        seed: int | None = None,
        stop: list[str] | None = None,
        temperature: float | None = None,
        top_k: int | None = None,
        top_n_tokens: int | None = None,
        top_p: float | None = None,
        truncate: int | None = None,
        typical_p: float | None = None,
        watermark: bool | None = None,
    ) -> Any:
        """Text generation, served over the OpenAI completions API of the chosen provider: the text, or
        (`details=True`) a TextGenerationOutput; `stream=True` gives an async iterator of tokens."""
        name, provider = await self._chosen(tn.TEXT_GENERATION, model)
        body = out.completion_body(prompt, name, _params(
            adapter_id=adapter_id, best_of=best_of, decoder_input_details=decoder_input_details, do_sample=do_sample,
            frequency_penalty=frequency_penalty, grammar=grammar, max_new_tokens=max_new_tokens,
            repetition_penalty=repetition_penalty, return_full_text=return_full_text, seed=seed, stop=stop,
            temperature=temperature, top_k=top_k, top_n_tokens=top_n_tokens, top_p=top_p, truncate=truncate,
            typical_p=typical_p, watermark=watermark))
        backend = self._backend()
        what = f"text-generation on {name}"
        if stream:
            chunks = await self._timed(backend.openai_stream(COMPLETIONS_ROUTE, body, provider), what)
            return out.Stream(chunks, out.TokenStream(bool(details)))
        answer = await self._timed(backend.openai(COMPLETIONS_ROUTE, body, provider), what)
        return out.generated(answer, bool(details))

    # --- text in -----------------------------------------------------------------------------------
    async def feature_extraction(
        self,
        text: str | list[str],
        *,
        normalize: bool | None = None,
        prompt_name: str | None = None,
        truncate: bool | None = None,
        truncation_direction: Literal["left", "right"] | None = None,
        dimensions: int | None = None,
        encoding_format: Literal["float", "base64"] | None = None,
        model: str | None = None,
    ) -> Any:
        """Embeddings as a float32 numpy array."""
        answer = await self._task(tn.FEATURE_EXTRACTION, model, text, None, normalize=normalize,
                                  prompt_name=prompt_name, truncate=truncate, truncation_direction=truncation_direction,
                                  dimensions=dimensions, encoding_format=encoding_format)
        return out.array(out.task_output(tn.FEATURE_EXTRACTION, answer))

    async def fill_mask(self, text: str, *, model: str | None = None, targets: list[str] | None = None,
                        top_k: int | None = None) -> Any:
        return await self._typed(tn.FILL_MASK, model, text, _params(targets=targets, top_k=top_k))

    async def question_answering(
        self, question: str, context: str, *, model: str | None = None, align_to_words: bool | None = None,
        doc_stride: int | None = None, handle_impossible_answer: bool | None = None,
        max_answer_len: int | None = None, max_question_len: int | None = None, max_seq_len: int | None = None,
        top_k: int | None = None,
    ) -> Any:
        answers = await self._typed(tn.QUESTION_ANSWERING, model, {"question": question, "context": context}, _params(
            align_to_words=align_to_words, doc_stride=doc_stride, handle_impossible_answer=handle_impossible_answer,
            max_answer_len=max_answer_len, max_question_len=max_question_len, max_seq_len=max_seq_len, top_k=top_k))
        return answers[0] if isinstance(answers, list) and len(answers) == 1 else answers

    async def sentence_similarity(self, sentence: str, other_sentences: list[str], *,
                                  model: str | None = None) -> list[float]:
        scores: list[float] = await self._typed(
            tn.SENTENCE_SIMILARITY, model, {"source_sentence": sentence, "sentences": other_sentences})
        return scores

    async def summarization(self, text: str, *, model: str | None = None,
                            clean_up_tokenization_spaces: bool | None = None,
                            generate_parameters: dict[str, Any] | None = None, truncation: str | None = None) -> Any:
        return await self._typed(tn.SUMMARIZATION, model, text, _params(
            clean_up_tokenization_spaces=clean_up_tokenization_spaces, generate_parameters=generate_parameters,
            truncation=truncation))

    async def table_question_answering(self, table: dict[str, Any], query: str, *, model: str | None = None,
                                       padding: str | None = None, sequential: bool | None = None,
                                       truncation: bool | None = None) -> Any:
        answers = await self._typed(tn.TABLE_QUESTION_ANSWERING, model, {"query": query, "table": table},
                                    _params(padding=padding, sequential=sequential, truncation=truncation))
        return answers[0] if isinstance(answers, list) and answers else answers

    async def tabular_classification(self, table: dict[str, Any], *, model: str | None = None) -> list[str]:
        labels: list[str] = await self._typed(tn.TABULAR_CLASSIFICATION, model, {"data": table})
        return labels

    async def tabular_regression(self, table: dict[str, Any], *, model: str | None = None) -> list[float]:
        values: list[float] = await self._typed(tn.TABULAR_REGRESSION, model, {"data": table})
        return values

    async def text_classification(self, text: str, *, model: str | None = None, top_k: int | None = None,
                                  function_to_apply: str | None = None) -> Any:
        return await self._typed(tn.TEXT_CLASSIFICATION, model, text,
                                 _params(top_k=top_k, function_to_apply=function_to_apply))

    async def token_classification(self, text: str, *, model: str | None = None,
                                   aggregation_strategy: str | None = None, ignore_labels: list[str] | None = None,
                                   stride: int | None = None) -> Any:
        return await self._typed(tn.TOKEN_CLASSIFICATION, model, text, _params(
            aggregation_strategy=aggregation_strategy, ignore_labels=ignore_labels, stride=stride))

    async def translation(self, text: str, *, model: str | None = None, src_lang: str | None = None,
                          tgt_lang: str | None = None, clean_up_tokenization_spaces: bool | None = None,
                          truncation: str | None = None, generate_parameters: dict[str, Any] | None = None) -> Any:
        if src_lang is not None and tgt_lang is None:
            raise ValueError("You cannot specify `src_lang` without specifying `tgt_lang`.")
        if src_lang is None and tgt_lang is not None:
            raise ValueError("You cannot specify `tgt_lang` without specifying `src_lang`.")
        return await self._typed(tn.TRANSLATION, model, text, _params(
            src_lang=src_lang, tgt_lang=tgt_lang, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
            truncation=truncation, generate_parameters=generate_parameters))

    async def zero_shot_classification(self, text: str, candidate_labels: list[str], *,
                                       multi_label: bool | None = False, hypothesis_template: str | None = None,
                                       model: str | None = None) -> Any:
        return await self._typed(tn.ZERO_SHOT_CLASSIFICATION, model, text, _params(
            candidate_labels=candidate_labels, multi_label=multi_label, hypothesis_template=hypothesis_template))

    # --- media out -----------------------------------------------------------------------------------
    async def text_to_image(self, prompt: str, *, negative_prompt: str | None = None, height: int | None = None,
                            width: int | None = None, num_inference_steps: int | None = None,
                            guidance_scale: float | None = None, model: str | None = None,
                            scheduler: str | None = None, seed: int | None = None,
                            extra_body: dict[str, Any] | None = None) -> Any:
        """A PIL image."""
        answer = await self._task(tn.TEXT_TO_IMAGE, model, prompt, {**_params(
            negative_prompt=negative_prompt, height=height, width=width, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, scheduler=scheduler, seed=seed), **(extra_body or {})})
        return out.image(out.media(tn.TEXT_TO_IMAGE, answer, "image"))

    async def text_to_speech(self, text: str, *, model: str | None = None, do_sample: bool | None = None,
                             early_stopping: bool | str | None = None, epsilon_cutoff: float | None = None,
                             eta_cutoff: float | None = None, max_length: int | None = None,
                             max_new_tokens: int | None = None, min_length: int | None = None,
                             min_new_tokens: int | None = None, num_beam_groups: int | None = None,
                             num_beams: int | None = None, penalty_alpha: float | None = None,
                             temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                             typical_p: float | None = None, use_cache: bool | None = None,
                             extra_body: dict[str, Any] | None = None) -> bytes:
        """The audio, as bytes."""
        generation = _params(
            do_sample=do_sample, early_stopping=early_stopping, epsilon_cutoff=epsilon_cutoff, eta_cutoff=eta_cutoff,
            max_length=max_length, max_new_tokens=max_new_tokens, min_length=min_length,
            min_new_tokens=min_new_tokens, num_beam_groups=num_beam_groups, num_beams=num_beams,
            penalty_alpha=penalty_alpha, temperature=temperature, top_k=top_k, top_p=top_p, typical_p=typical_p,
            use_cache=use_cache)
        parameters = {**({"generation_parameters": generation} if generation else {}), **(extra_body or {})}
        answer = await self._task(tn.TEXT_TO_SPEECH, model, text, parameters)
        return out.media(tn.TEXT_TO_SPEECH, answer, "audio")

    async def text_to_video(self, prompt: str, *, model: str | None = None, guidance_scale: float | None = None,
                            negative_prompt: list[str] | None = None, num_frames: float | None = None,
                            num_inference_steps: int | None = None, seed: int | None = None,
                            extra_body: dict[str, Any] | None = None) -> bytes:
        """The video, as bytes."""
        answer = await self._task(tn.TEXT_TO_VIDEO, model, prompt, {**_params(
            guidance_scale=guidance_scale, negative_prompt=negative_prompt, num_frames=num_frames,
            num_inference_steps=num_inference_steps, seed=seed), **(extra_body or {})})
        return out.media(tn.TEXT_TO_VIDEO, answer, "video")

    async def image_to_image(self, image: ContentT, prompt: str | None = None, *, negative_prompt: str | None = None,
                             num_inference_steps: int | None = None, guidance_scale: float | None = None,
                             model: str | None = None, target_size: Any = None, **kwargs: Any) -> Any:
        """A PIL image."""
        content = await self._content(image, "image")
        answer = await self._task(tn.IMAGE_TO_IMAGE, model, content, {**_params(
            prompt=prompt, negative_prompt=negative_prompt, num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale, target_size=target_size), **kwargs})
        return out.image(out.media(tn.IMAGE_TO_IMAGE, answer, "image"))

    async def image_to_video(self, image: ContentT, *, model: str | None = None, prompt: str | None = None,
                             negative_prompt: str | None = None, num_frames: float | None = None,
                             num_inference_steps: int | None = None, guidance_scale: float | None = None,
                             seed: int | None = None, target_size: Any = None, **kwargs: Any) -> bytes:
        """The video, as bytes."""
        content = await self._content(image, "image")
        answer = await self._task(tn.IMAGE_TO_VIDEO, model, content, {**_params(
            prompt=prompt, negative_prompt=negative_prompt, num_frames=num_frames,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, seed=seed,
            target_size=target_size), **kwargs})
        return out.media(tn.IMAGE_TO_VIDEO, answer, "video")

    # --- image and audio in --------------------------------------------------------------------------
    async def audio_classification(self, audio: ContentT, *, model: str | None = None, top_k: int | None = None,
                                   function_to_apply: str | None = None) -> Any:
        return await self._typed(tn.AUDIO_CLASSIFICATION, model, await self._content(audio, "audio"),
                                 _params(top_k=top_k, function_to_apply=function_to_apply))

    async def audio_to_audio(self, audio: ContentT, *, model: str | None = None) -> Any:
        return await self._typed(tn.AUDIO_TO_AUDIO, model, await self._content(audio, "audio"))

    async def automatic_speech_recognition(self, audio: ContentT, *, model: str | None = None,
                                           extra_body: dict[str, Any] | None = None) -> Any:
        return await self._typed(tn.AUTOMATIC_SPEECH_RECOGNITION, model, await self._content(audio, "audio"),
                                 extra_body or None)

    async def document_question_answering(
        self, image: ContentT, question: str, *, model: str | None = None, doc_stride: int | None = None,
        handle_impossible_answer: bool | None = None, lang: str | None = None, max_answer_len: int | None = None,
        max_question_len: int | None = None, max_seq_len: int | None = None, top_k: int | None = None,
        word_boxes: list[Any] | None = None,
    ) -> Any:
        inputs = {"image": await self._content(image, "image"), "question": question}
        return await self._typed(tn.DOCUMENT_QUESTION_ANSWERING, model, inputs, _params(
            doc_stride=doc_stride, handle_impossible_answer=handle_impossible_answer, lang=lang,
            max_answer_len=max_answer_len, max_question_len=max_question_len, max_seq_len=max_seq_len,
            top_k=top_k, word_boxes=word_boxes))

    async def image_classification(self, image: ContentT, *, model: str | None = None,
                                   function_to_apply: str | None = None, top_k: int | None = None) -> Any:
        return await self._typed(tn.IMAGE_CLASSIFICATION, model, await self._content(image, "image"),
                                 _params(function_to_apply=function_to_apply, top_k=top_k))

    async def image_segmentation(self, image: ContentT, *, model: str | None = None,
                                 mask_threshold: float | None = None, overlap_mask_area_threshold: float | None = None,
                                 subtask: str | None = None, threshold: float | None = None) -> Any:
        segments = await self._typed(tn.IMAGE_SEGMENTATION, model, await self._content(image, "image"), _params(
            mask_threshold=mask_threshold, overlap_mask_area_threshold=overlap_mask_area_threshold, subtask=subtask,
            threshold=threshold))
        for segment in segments:  # each mask as a PIL image, as huggingface_hub returns it
            segment["mask"] = out.image(out.b64decode(segment["mask"]))
        return segments

    async def image_to_text(self, image: ContentT, *, model: str | None = None) -> Any:
        return await self._typed(tn.IMAGE_TO_TEXT, model, await self._content(image, "image"))

    async def object_detection(self, image: ContentT, *, model: str | None = None,
                               threshold: float | None = None) -> Any:
        return await self._typed(tn.OBJECT_DETECTION, model, await self._content(image, "image"),
                                 _params(threshold=threshold))

    async def visual_question_answering(self, image: ContentT, question: str, *, model: str | None = None,
                                        top_k: int | None = None) -> Any:
        inputs = {"image": await self._content(image, "image"), "question": question}
        return await self._typed(tn.VISUAL_QUESTION_ANSWERING, model, inputs, _params(top_k=top_k))

    async def zero_shot_image_classification(self, image: ContentT, candidate_labels: list[str], *,
                                             model: str | None = None,
                                             hypothesis_template: str | None = None) -> Any:
        return await self._typed(tn.ZERO_SHOT_IMAGE_CLASSIFICATION, model, await self._content(image, "image"),
                                 _params(candidate_labels=candidate_labels, hypothesis_template=hypothesis_template))

    # --- service -------------------------------------------------------------------------------------
    async def health_check(self, model: str | None = None) -> bool:
        """Routed mode: whether the router answers its /health."""
        if self.base_url is None:
            warnings.warn("health_check needs a router (base_url); direct mode has nothing to check",
                          UserWarning, stacklevel=2)
            return False
        backend = self._backend()
        return await self._timed(backend.healthy(), "health check")  # type: ignore[attr-defined]
