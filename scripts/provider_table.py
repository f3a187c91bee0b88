"""Print README's provider x feature table from the registry (tests/test_readme.py keeps them equal)."""

from __future__ import annotations

from hubroute.providers import CHAT, EMBEDDINGS, REGISTRY, TEXT_GENERATION

NONE = "\N{EN DASH}"  # an empty cell
SCHEMA = {
    "native": "as sent",
    "json_object": "→ json_object",
    "json_object_with_schema": "→ json_object + schema",
    "json_object_with_value": "→ json_object + value",
    "flat_schema": "flattened",
}


def table() -> str:
    rows = [
        "| provider | chat route | `/v1/completions` route | `/v1/embeddings` route | other tasks | via HF token "
        "| own key (env) | json_schema | quirks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, p in sorted(REGISTRY.items()):
        quirks = []
        if p.auth_scheme != "Bearer":
            quirks.append(f"`{p.auth_scheme}` auth")
        if p.unsupported_params:
            quirks.append("drops " + ", ".join(f"`{k}`" for k in sorted(p.unsupported_params)))
        if p.reasoning_key:
            quirks.append(f"`{p.reasoning_key}` → `reasoning`")
        if p.extra_headers:
            quirks.append("headers " + ", ".join(f"`{k}`" for k in sorted(p.extra_headers)))
        if p.drop_stream_options:
            quirks.append("no `stream_options`")
        others = sorted(set(p.routes) - {CHAT, TEXT_GENERATION, EMBEDDINGS})
        tasks = f"{len(others)} classic pipeline tasks" if len(others) > 10 else ", ".join(others) or NONE
        rows.append(
            f"| {name} | {'`' + p.routes[CHAT] + '`' if CHAT in p.routes else NONE} | "
            f"{'`' + p.routes[TEXT_GENERATION] + '`' if TEXT_GENERATION in p.routes else NONE} | "
            f"{'`' + p.routes[EMBEDDINGS] + '`' if EMBEDDINGS in p.routes else NONE}"
            f"{' (HF shape)' if EMBEDDINGS in p.routes and p.embeddings_shape == 'hf' else ''} | {tasks} | "
            f"{'yes' if p.hf_routed else 'no'} | "
            f"{', '.join(f'`{k}`' for k in p.env_keys) or 'HF token only'} | {SCHEMA[p.json_schema_mode]} | "
            f"{'; '.join(quirks) or NONE} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
