"""A model's reasoning sent back in a conversation, for the provider that made it and no other.

Anthropic's thinking blocks and the Responses API's reasoning items come back in the next request of
an agent's conversation. Chat providers take no signed reasoning; a few take their own model's earlier
reasoning back in its assistant messages (interleaved thinking between tool calls: the adapters whose
`replays_reasoning` names the field). So the translators sign what a provider reasoned with its name
and model (`signature`: the thinking block's `signature`, the reasoning item's `encrypted_content`);
reasoning sent back with such a signature rides on its assistant message under `KEY`
(`carry`, `flag`), and the adapter that builds the provider's request (`providers._base.Provider.build_chat`)
keeps it only when it is that provider serving that model, dropped otherwise. Reasoning is never
made text.
"""

from __future__ import annotations

from typing import Any

#: the assistant message's reasoning to replay: {"provider", "model", "text"} (never sent as is)
KEY = "_hubroute_reasoning"
#: on the chat body: some assistant message carries reasoning to replay
FLAG = "_hubroute_replays"
_PREFIX = "hubroute:"


def signature(provider: str, model: str) -> str:
    """What signs reasoning `provider` made serving `model`."""
    return f"{_PREFIX}{provider}:{model}"


def origin(signed: Any) -> tuple[str, str] | None:
    """The provider and model a signature names (None: not one of ours)."""
    if not isinstance(signed, str) or not signed.startswith(_PREFIX):
        return None
    provider, sep, model = signed[len(_PREFIX):].partition(":")
    return (provider, model) if sep and provider and model else None


def carry(message: dict[str, Any], text: Any, signed: Any) -> None:
    """An assistant message carries `text`, the reasoning before it, if `signed` names who reasoned it."""
    made = origin(signed)
    if made is not None and isinstance(text, str) and text:
        message[KEY] = {"provider": made[0], "model": made[1], "text": text}


def flag(chat: dict[str, Any]) -> None:
    """Mark a chat body whose messages carry reasoning (so that only those bodies are looked through)."""
    if any(KEY in message for message in chat["messages"]):
        chat[FLAG] = True


def for_provider(messages: list[dict[str, Any]], provider: str, model: str, field: str | None) -> list[dict[str, Any]]:
    """`messages` as `provider` serving `model` gets them: the reasoning it made, in `field` (None: it
    takes none back), the rest dropped."""
    out = []
    for message in messages:
        carried = message.get(KEY)
        if carried is None:
            out.append(message)
            continue
        message = {k: v for k, v in message.items() if k != KEY}
        if field is not None and carried["provider"] == provider and carried["model"] == model:
            message[field] = carried["text"]
        out.append(message)
    return out
