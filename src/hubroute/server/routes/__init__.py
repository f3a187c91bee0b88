"""The router's HTTP routes, one module per group, and the table that declares them (`TABLE`).

A new API surface is one module here and one entry in the table: its method and path, the label it
is recorded under, whether it needs a key, is metered and renders errors its own way, and its `Doc`
(what the OpenAPI document at `GET /openapi.json` says of it: summary, body, answer).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from hubroute.server import openapi as oa
from hubroute.server.routes import admin, responses
from hubroute.server.routes.chat import chat_completions, completions
from hubroute.server.routes.embeddings import embeddings
from hubroute.server.routes.media import audio_speech, audio_transcriptions, images_generations
from hubroute.server.routes.messages import anthropic_error, anthropic_status, count_tokens, messages
from hubroute.server.routes.models import get_model, list_models
from hubroute.server.routes.ops import health, metrics
from hubroute.server.routes.passthrough import passthrough, provider_of
from hubroute.server.routes.tasks import run_task
from hubroute.server.table import Doc, Route, RouteTable

if TYPE_CHECKING:
    from hubroute.server.app import App


def _provider_native(app: App, path: str) -> bool:
    return provider_of(app, path) is not None


JSON = "application/json"
CHAT = Doc("Chat completion (OpenAI's API)", body={JSON: oa.CHAT_REQUEST},
           answer={JSON: oa.CHAT_RESPONSE, "text/event-stream": oa.SSE})
COMPLETION = Doc("Text completion (OpenAI's legacy API)", body={JSON: oa.COMPLETION_REQUEST},
                 answer={JSON: oa.COMPLETION_RESPONSE, "text/event-stream": oa.SSE})
EMBEDDING = Doc("Embeddings (OpenAI's API, over the feature-extraction task)", body={JSON: oa.EMBEDDINGS_REQUEST},
                answer={JSON: oa.EMBEDDINGS_RESPONSE})
MESSAGES = Doc("A message (Anthropic's Messages API, on every chat provider)", body={JSON: oa.ANY},
               answer={JSON: oa.ANY, "text/event-stream": oa.SSE}, error=oa.ANTHROPIC_ERROR,
               description="Anthropic's request and answer shapes, errors included; `stream: true` gives its "
                           "event stream. Keys as `x-api-key` or `Authorization: Bearer`.")
COUNT_TOKENS = Doc("Count a message's input tokens (by the model's tokenizer when it is on the machine, else an "
                   "estimate)", body={JSON: oa.ANY}, answer={JSON: oa.ANY},
                   error=oa.ANTHROPIC_ERROR)
RESPONSES = Doc("A response (OpenAI's Responses API, on every chat provider)", body={JSON: oa.ANY},
                answer={JSON: oa.ANY, "text/event-stream": oa.SSE},
                description="OpenAI's request and response shapes; `stream: true` gives its event stream. With "
                            "`store` (the default) the response is kept for `previous_response_id` and GET.")
TASK = Doc(
    "Run a Hugging Face task: the model's task, or `?task=` (`/pipeline/{task}`: one operation per task)",
    paths=("/models/{org}/{model}",), more=oa.task_operations,
    body={JSON: oa.task_request, "application/octet-stream": oa.BINARY},
    answer={JSON: oa.task_answer, **oa.MEDIA_ANSWER},
    query={"task": oa.task_param, "provider": {"type": "string"}},
    examples={"org": "distilbert", "model": "distilbert-base-uncased-finetuned-sst-2-english"},
    description="A JSON body is the task's input; a binary input (an image, audio) may also come alone as the "
                "raw body with its content type, or as multipart/form-data. Media answers come as raw bytes.",
)
MODELS = Doc("List the models this router serves (chat models unless `?task=`)", answer={JSON: oa.MODEL_LIST},
             query={"task": {"type": "string"}})
PASSTHROUGH = Doc(
    "A provider's native route, passed through with the provider's credentials", paths=("/{provider}/{route}",),
    body={"*/*": oa.ANY}, relayed=True,
    description="Hugging Face router's provider-native routes (`/together/v1/chat/completions`, "
                "`/fal-ai/fal-ai/flux/dev`...): the body, query and answer pass unchanged.",
)
PASSTHROUGH_GET = replace(PASSTHROUGH, body=None)

TABLE = RouteTable([
    Route("POST", "/v1/chat/completions", chat_completions, "chat", metered=True, doc=CHAT),
    Route("POST", "/chat/completions", chat_completions, "chat", metered=True, doc=CHAT),
    Route("POST", "/v1/completions", completions, "completions", metered=True, doc=COMPLETION),
    Route("POST", "/completions", completions, "completions", metered=True, doc=COMPLETION),
    Route("POST", "/v1/embeddings", embeddings, "embeddings", metered=True, doc=EMBEDDING),
    Route("POST", "/v1/messages", messages, "messages", metered=True, errors=anthropic_error, status=anthropic_status,
          doc=MESSAGES),
    Route("POST", "/v1/messages/count_tokens", count_tokens, "messages", errors=anthropic_error, doc=COUNT_TOKENS),
    Route("POST", "/v1/responses", responses.create, "responses", metered=True, doc=RESPONSES),
    Route("GET", "/v1/responses/{id}", responses.get, "responses",
          doc=Doc("A stored response", answer={JSON: oa.ANY}, examples={"id": "resp_0"})),
    Route("DELETE", "/v1/responses/{id}", responses.delete, "responses",
          doc=Doc("Delete a stored response", answer={JSON: oa.ANY}, examples={"id": "resp_0"})),
    Route("GET", "/v1/responses/{id}/input_items", responses.input_items, "responses",
          doc=Doc("A stored response's input items (`limit`, `order`, `after`, `before`)", answer={JSON: oa.ANY},
                  query={"limit": {"type": "integer", "minimum": 1, "maximum": 100},
                         "order": {"enum": ["asc", "desc"]}, "after": {"type": "string"},
                         "before": {"type": "string"}}, examples={"id": "resp_0"})),
    Route("POST", "/embeddings", embeddings, "embeddings", metered=True, doc=EMBEDDING),
    Route("POST", "/v1/images/generations", images_generations, "images", metered=True,
          doc=Doc("Generate images (OpenAI's API, over text-to-image)", body={JSON: oa.IMAGES_REQUEST},
                  answer={JSON: oa.IMAGES_RESPONSE})),
    Route("POST", "/v1/audio/speech", audio_speech, "speech", metered=True,
          doc=Doc("Speech from text (OpenAI's API, over text-to-speech)", body={JSON: oa.SPEECH_REQUEST},
                  answer={"audio/*": oa.BINARY})),
    Route("POST", "/v1/audio/transcriptions", audio_transcriptions, "transcriptions", metered=True,
          doc=Doc("Transcribe audio (OpenAI's API, over automatic-speech-recognition)",
                  body={"multipart/form-data": oa.TRANSCRIPTION_REQUEST},
                  answer={JSON: oa.TRANSCRIPTION_RESPONSE, "text/plain": {"type": "string"}})),
    Route("POST", "/models/", run_task, "task", metered=True, prefix=True, doc=TASK),
    Route("GET", "/v1/models", list_models, "models", doc=MODELS),
    Route("GET", "/models", list_models, "models", doc=MODELS),
    Route("GET", "/v1/models/", get_model, "model", prefix=True,
          doc=Doc("A model and its providers", paths=("/v1/models/{org}/{model}",), answer={JSON: oa.MODEL_CARD})),
    Route("GET", "/models/", get_model, "model", prefix=True,
          doc=Doc("A model and its providers", paths=("/models/{org}/{model}",), answer={JSON: oa.MODEL_CARD})),
    Route("GET", "/health", health, "health", auth=False,
          doc=Doc("Liveness, in-flight requests, open circuits", answer={JSON: oa.HEALTH})),
    Route("GET", "/metrics", metrics, "metrics", scope="admin",
          doc=Doc("Prometheus metrics", answer={"text/plain": oa.METRICS})),
    # the API's shape is public (it is the same for every deployment and holds no secret): no key needed
    Route("GET", "/openapi.json", oa.openapi_json, "openapi", auth=False,
          doc=Doc("This OpenAPI document", answer={JSON: oa.OPENAPI})),
    Route("GET", "/v1/key", admin.own_key, "key",
          doc=Doc("The calling key: its owner, what it may reach, its limits and budget", answer={JSON: admin.KEY})),
    # the admin API: the master key, or a key of a user who administers the deployment
    *[Route(method, path, handler, label, scope="admin",
            doc=Doc(summary, body={JSON: admin.schema(body)} if body is not None else None, answer={JSON: answer},
                    status=201 if method == "POST" and not path.endswith("/rotate") else 200))
      for method, path, handler, label, summary, body, answer in (
          ("POST", "/admin/v1/users", admin.create_user, "admin", "Create a user", admin.NewUser, admin.USER),
          ("GET", "/admin/v1/users", admin.list_users, "admin", "List users", None, admin.listing(admin.USER)),
          ("GET", "/admin/v1/users/{user}", admin.get_user, "admin", "A user", None, admin.USER),
          ("PATCH", "/admin/v1/users/{user}", admin.update_user, "admin", "Change a user (block it, make it an "
           "administrator)", admin.UserChange, admin.USER),
          ("DELETE", "/admin/v1/users/{user}", admin.delete_user, "admin", "Delete a user and its keys", None,
           admin.DELETED),
          ("POST", "/admin/v1/orgs", admin.create_org, "admin", "Create an organisation", admin.NewOrg, admin.ORG),
          ("GET", "/admin/v1/orgs", admin.list_orgs, "admin", "List organisations", None, admin.listing(admin.ORG)),
          ("GET", "/admin/v1/orgs/{org}", admin.get_org, "admin", "An organisation and its members", None,
           admin.ORG),
          ("PATCH", "/admin/v1/orgs/{org}", admin.update_org, "admin", "Change an organisation", admin.OrgChange,
           admin.ORG),
          ("DELETE", "/admin/v1/orgs/{org}", admin.delete_org, "admin", "Delete an organisation and its keys",
           None, admin.DELETED),
          ("POST", "/admin/v1/orgs/{org}/members", admin.add_member, "admin", "Add a member (or change its role)",
           admin.NewMember, admin.MEMBER),
          ("GET", "/admin/v1/orgs/{org}/members", admin.list_members, "admin", "An organisation's members", None,
           admin.listing(admin.MEMBER)),
          ("DELETE", "/admin/v1/orgs/{org}/members/{user}", admin.remove_member, "admin", "Remove a member", None,
           admin.DELETED),
          ("POST", "/admin/v1/keys", admin.create_key, "admin", "Create an API key (its secret: in this answer "
           "only)", admin.NewKey, admin.KEY),
          ("GET", "/admin/v1/keys", admin.list_keys, "admin", "List keys (`?user=`, `?org=`, `?revoked=true`)",
           None, admin.listing(admin.KEY)),
          ("GET", "/admin/v1/keys/{id}", admin.get_key, "admin", "A key", None, admin.KEY),
          ("PATCH", "/admin/v1/keys/{id}", admin.update_key, "admin", "Change a key's settings", admin.KeyChange,
           admin.KEY),
          ("DELETE", "/admin/v1/keys/{id}", admin.revoke_key, "admin", "Revoke a key", None, admin.KEY),
          ("POST", "/admin/v1/keys/{id}/rotate", admin.rotate_key, "admin", "A new secret for a key (the old one "
           "stops working)", None, admin.KEY),
      )],
    Route("POST", "/admin/v1/credits", admin.grant_credits, "admin", scope="admin",
          doc=Doc("Grant credits to a user or an organisation (a negative amount deducts)",
                  body={JSON: admin.schema(admin.Grant)}, answer={JSON: admin.CREDITS}, status=201)),
    Route("GET", "/admin/v1/credits", admin.get_credits, "admin", scope="admin",
          doc=Doc("An account's credits left and its grants (`?user=` or `?org=`)", query=admin.ACCOUNT_QUERY,
                  answer={JSON: admin.CREDITS})),
    Route("PUT", "/admin/v1/budgets", admin.set_budget, "admin", scope="admin",
          doc=Doc("Set a user's or an organisation's budget for a period", body={JSON: admin.schema(admin.NewBudget)},
                  answer={JSON: admin.BUDGET})),
    Route("GET", "/admin/v1/budgets", admin.list_budgets, "admin", scope="admin",
          doc=Doc("An account's budgets (`?user=` or `?org=`)", query=admin.ACCOUNT_QUERY,
                  answer={JSON: admin.listing(admin.BUDGET)})),
    Route("DELETE", "/admin/v1/budgets", admin.delete_budget, "admin", scope="admin",
          doc=Doc("Remove an account's budget (`?user=` or `?org=`, `&period=`)",
                  query={**admin.ACCOUNT_QUERY, "period": {"enum": ["day", "week", "month", "total"]}},
                  answer={JSON: admin.DELETED})),
    Route("PUT", "/admin/v1/provider-keys", admin.put_provider_key, "admin", scope="admin",
          doc=Doc("Store a user's or an organisation's own key for a provider (sealed at rest)",
                  body={JSON: admin.schema(admin.NewProviderKey)}, answer={JSON: admin.PROVIDER_KEY})),
    Route("GET", "/admin/v1/provider-keys", admin.list_provider_keys, "admin", scope="admin",
          doc=Doc("An account's provider keys (`?user=` or `?org=`): providers and last characters only",
                  query=admin.ACCOUNT_QUERY, answer={JSON: admin.listing(admin.PROVIDER_KEY)})),
    Route("DELETE", "/admin/v1/provider-keys", admin.delete_provider_key, "admin", scope="admin",
          doc=Doc("Remove an account's key for a provider (`?user=` or `?org=`, `&provider=`)",
                  query={**admin.ACCOUNT_QUERY, "provider": {"type": "string"}}, answer={JSON: admin.DELETED})),
    Route("GET", "/admin/v1/usage", admin.get_usage, "admin", scope="admin",
          doc=Doc("Usage from the ledger: totals per group, or the rows; JSON or CSV", query=admin.USAGE_QUERY,
                  answer={JSON: admin.USAGE, "text/csv": {"type": "string"}})),
    # Hugging Face router's provider-native routes: /{provider}/{route}
    Route("POST", "/{provider}/...", passthrough, "passthrough", metered=True, match=_provider_native,
          doc=PASSTHROUGH),
    Route("GET", "/{provider}/...", passthrough, "passthrough", metered=True, match=_provider_native,
          doc=PASSTHROUGH_GET),
])

__all__ = ["TABLE"]
