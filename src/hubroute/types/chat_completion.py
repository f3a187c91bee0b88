"""conversational (the spec's chat-completion): OpenAI-shaped chat, deliberately untyped here.

Chat requests and responses stay the OpenAI-compatible JSON dicts that the chat path already
validates and relays (huggingface.js packages/tasks/src/tasks/chat-completion/spec is OpenAI's
shape). Typing them here would mean parsing and re-serialising every chat body on the hot path for
nothing, so parse_input returns the dict unchanged and encode_output encodes it as it is.
"""

from __future__ import annotations

from typing import Any

ChatCompletionInput = dict[str, Any]
ChatCompletionOutput = dict[str, Any]
#: one `chat.completion.chunk` event of a stream
ChatCompletionStreamOutput = dict[str, Any]
