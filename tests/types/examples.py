"""One realistic request and response per task, in the wire shapes Hugging Face documents and its
Inference API sends (most are taken from the recorded traffic of huggingface.js's test tapes and
from the examples of huggingface_hub's InferenceClient)."""

from __future__ import annotations

import base64
from typing import Any

#: the first bytes of a PNG, base64-encoded: a string a binary field accepts
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10").decode()
IMAGE_URL = "https://huggingface.co/datasets/huggingface/documentation-images/resolve/main/cat.png"
AUDIO_URL = "https://huggingface.co/datasets/Narsil/asr_dummy/resolve/main/1.flac"
FLAC_B64 = base64.b64encode(b'fLaC\x00\x00\x00"\x12\x00\x12\x00\x00\x00\x00').decode()
MP4_B64 = base64.b64encode(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00").decode()
WINE = {
    "fixed_acidity": ["7.4", "7.8", "10.3"],
    "volatile_acidity": ["0.7", "0.88", "0.32"],
    "alcohol": ["9.4", "9.8", "12.6"],
}
REPOS = {
    "Repository": ["Transformers", "Datasets", "Tokenizers"],
    "Stars": ["36542", "4512", "3934"],
    "Programming language": ["Python", "Python", "Rust, Python and NodeJS"],
}
CHAT_REQUEST = {
    "model": "meta-llama/Llama-3.3-70B-Instruct",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "max_tokens": 50,
}
CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1738161419,
    "model": "meta-llama/Llama-3.3-70B-Instruct",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
}

# task -> (request, response as HF's API sends it)
EXAMPLES: dict[str, tuple[dict[str, Any], Any]] = {
    "audio-classification": (
        {"inputs": AUDIO_URL, "parameters": {"top_k": 2, "function_to_apply": "softmax"}},
        [{"label": "neu", "score": 0.5927601456642151}, {"label": "hap", "score": 0.20025669038295746}],
    ),
    "audio-to-audio": (
        {"inputs": FLAC_B64},
        [{"label": "label_0", "blob": FLAC_B64, "content-type": "audio/flac"}],
    ),
    "automatic-speech-recognition": (
        {"inputs": FLAC_B64, "parameters": {"return_timestamps": True, "generation_parameters": {"num_beams": 2}}},
        {
            "text": " going along slushy country roads",
            "chunks": [
                {"text": " going along", "timestamp": [0.0, 1.5]},
                {"text": " slushy country roads", "timestamp": [1.5, 3.2]},
            ],
        },
    ),
    "conversational": (CHAT_REQUEST, CHAT_RESPONSE),
    "document-question-answering": (
        {"inputs": {"image": IMAGE_URL, "question": "What is the invoice number?"}, "parameters": {"top_k": 1}},
        [{"answer": "us-001", "score": 0.6035408973693848, "start": 16, "end": 16}],
    ),
    "feature-extraction": (
        {"inputs": ["hello", "That is a happy person"], "normalize": True, "truncate": False},
        [[0.2482035607099533, 0.48786279559135437, -0.22431160509586334], [0.1, -0.2, 0.3]],
    ),
    "fill-mask": (
        {"inputs": "The goal of life is [MASK].", "parameters": {"top_k": 2, "targets": ["happiness", "survival"]}},
        [
            {"sequence": "the goal of life is happiness.", "score": 0.5, "token": 8404, "token_str": "happiness"},
            {"sequence": "the goal of life is survival.", "score": 0.1, "token": 7691, "token_str": "survival"},
        ],
    ),
    "image-classification": (
        {"inputs": IMAGE_URL, "parameters": {"top_k": 2}},
        [{"label": "tiger cat", "score": 0.8}, {"label": "tabby, tabby cat", "score": 0.1}],
    ),
    "image-segmentation": (
        {"inputs": PNG_B64, "parameters": {"subtask": "panoptic", "threshold": 0.9}},
        [{"label": "LABEL_199", "mask": PNG_B64, "score": 0.986684}],
    ),
    "image-to-image": (
        {
            "inputs": PNG_B64,
            "parameters": {"prompt": "Turn the cat into a tiger.", "target_size": {"width": 512, "height": 512}},
        },
        {"image": PNG_B64},
    ),
    "image-to-text": (
        {"inputs": IMAGE_URL, "parameters": {"max_new_tokens": 30}},
        [{"generated_text": "a large brown and white giraffe standing in a field "}],
    ),
    "image-to-video": (
        {"inputs": PNG_B64, "parameters": {"prompt": "The cat starts to dance", "num_frames": 48, "seed": 7}},
        {"video": MP4_B64},
    ),
    "object-detection": (
        {"inputs": IMAGE_URL, "parameters": {"threshold": 0.9}},
        [{"score": 0.9957962036132812, "label": "cat", "box": {"xmin": 506, "ymin": 233, "xmax": 629, "ymax": 405}}],
    ),
    "question-answering": (
        {"inputs": {"question": "What is the capital of France?", "context": "The capital of France is Paris."}},
        [{"score": 0.9703431725502014, "start": 25, "end": 30, "answer": "Paris"}],
    ),
    "sentence-similarity": (
        {
            "inputs": {
                "source_sentence": "That is a happy person",
                "sentences": ["That is a happy dog", "That is a very happy person", "Today is a sunny day"],
            }
        },
        [0.6623499989509583, 0.9382343292236328, 0.2296334058046341],
    ),
    "summarization": (
        {
            "inputs": "The tower is 324 metres (1,063 ft) tall, about the same height as an 81-storey building.",
            "parameters": {"truncation": "longest_first", "generate_parameters": {"max_length": 40}},
        },
        [{"summary_text": "The tower is 324 metres (1,063 ft) tall."}],
    ),
    "table-question-answering": (
        {"inputs": {"query": "How many stars does the transformers repository have?", "table": REPOS}},
        [{"answer": "AVERAGE > 36542", "coordinates": [[0, 1]], "cells": ["36542"], "aggregator": "AVERAGE"}],
    ),
    "tabular-classification": ({"inputs": {"data": WINE}}, [5, 5, 7]),
    "tabular-regression": (
        {"inputs": {"data": {"Height": ["11.52", "12.48", "12.3778"], "Species": ["Bream", "Bream", "Bream"]}}},
        [270.5473526976245, 313.6843425638086, 328.3727133404402],
    ),
    "text-classification": (
        {"inputs": "I like you. I love you.", "parameters": {"top_k": 2}},
        [{"label": "POSITIVE", "score": 0.9998763799667358}, {"label": "NEGATIVE", "score": 0.00012365408474579453}],
    ),
    "text-generation": (
        {
            "inputs": "The answer to the universe is",
            "parameters": {"max_new_tokens": 20, "temperature": 0.5, "stop": ["\n"], "details": True},
            "stream": False,
        },
        [
            {
                "generated_text": " 42.",
                "details": {
                    "finish_reason": "eos_token",
                    "generated_tokens": 2,
                    "seed": 1,
                    "prefill": [],
                    "tokens": [
                        {"id": 5433, "text": " 42", "logprob": -0.3, "special": False},
                        {"id": 13, "text": ".", "logprob": -0.1, "special": False},
                    ],
                },
            }
        ],
    ),
    "text-to-image": (
        {"inputs": "Astronaut riding a horse", "parameters": {"width": 512, "height": 512, "seed": 42}},
        {"image": PNG_B64},
    ),
    "text-to-speech": (
        {"inputs": "hello there!", "parameters": {"generation_parameters": {"do_sample": True}}},
        {"audio": FLAC_B64, "sampling_rate": 22050.0},
    ),
    "text-to-video": (
        {"inputs": "A young man walking on the street", "parameters": {"num_frames": 49, "negative_prompt": ["blur"]}},
        {"video": MP4_B64},
    ),
    "token-classification": (
        {
            "inputs": "My name is Sarah Jessica Parker but you can call me Jessica",
            "parameters": {"aggregation_strategy": "simple"},
        },
        [
            {
                "entity_group": "PER",
                "score": 0.9991335868835449,
                "word": "Sarah Jessica Parker",
                "start": 11,
                "end": 31,
            },
            {"entity_group": "PER", "score": 0.9979913234710693, "word": "Jessica", "start": 52, "end": 59},
        ],
    ),
    "translation": (
        {"inputs": "My name is Wolfgang and I live in Berlin", "parameters": {"src_lang": "en", "tgt_lang": "de"}},
        [{"translation_text": "Mein Name ist Wolfgang und ich lebe in Berlin"}],
    ),
    "visual-question-answering": (
        {"inputs": {"image": IMAGE_URL, "question": "How many cats are lying down?"}, "parameters": {"top_k": 2}},
        [{"score": 0.5166967511177063, "answer": "2"}, {"score": 0.35002437233924866, "answer": "3"}],
    ),
    "zero-shot-classification": (
        {
            "inputs": "Hi, I recently bought a device from your company but it is not working as advertised",
            "parameters": {"candidate_labels": ["refund", "legal", "faq"], "multi_label": False},
        },
        [{"label": "refund", "score": 0.8777875304222107}, {"label": "faq", "score": 0.10522652417421341}],
    ),
    "zero-shot-image-classification": (
        {"inputs": IMAGE_URL, "parameters": {"candidate_labels": ["animal", "car", "toy"]}},
        [{"score": 0.9644635915756226, "label": "animal"}, {"score": 0.02661651372909546, "label": "car"}],
    ),
}
