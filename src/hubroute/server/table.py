"""The route table: every HTTP route the router answers, and what the app does around it.

A `Route` declares its method and path, its handler, the label it is recorded and counted under,
whether it needs a key (`auth`), whether its usage is metered (`metered`: it reaches a provider,
and its time, tokens and cost are what metrics, limits and the ledger count), and how its errors are
rendered (`errors`: OpenAI's shape unless the API it speaks has its own). A path is exact, a prefix
(`prefix=True`: the path and at least one more character), or matched by a predicate (`match`: the
provider-native paths, known only once the providers are). Its `doc` is what the OpenAPI document
(`server.openapi`, `GET /openapi.json`) says of it: the document is built from this table alone.

Dispatch is one dict look-up for exact paths, then the prefixes, then the predicates.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubroute.errors import HubrouteError

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.asgi import Scope
    from hubroute.server.record import RequestRecord

Handler = Callable[["App", "RequestRecord", "Scope", Any, Any], Awaitable[None]]
ErrorRenderer = Callable[[HubrouteError], dict[str, Any]]


def openai_error(exc: HubrouteError) -> dict[str, Any]:
    """`{"error": {"message", "type", "code", "param"?}}`: OpenAI's error body."""
    return exc.to_openai()


@dataclass(slots=True, frozen=True)
class Doc:
    """A route in the OpenAPI document. Schemas are JSON Schema dicts, or functions that make one
    (called once, when the document is first built)."""

    summary: str
    #: the OpenAPI paths a prefix or predicate route serves (`/models/{org}/{model}`); else its path
    paths: tuple[str, ...] = ()
    #: the request body: media type -> schema (None: no body)
    body: Mapping[str, Any] | None = None
    #: the 200 answer: media type -> schema
    answer: Mapping[str, Any] = field(default_factory=dict)
    #: query parameters: name -> schema
    query: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: examples of the path parameters (`{"org": "meta-llama", "model": "Llama-3.3-70B-Instruct"}`)
    examples: Mapping[str, str] = field(default_factory=dict)
    #: more OpenAPI paths the route serves, each with its own Doc (the task route: one per task),
    #: made when the document is built
    more: Callable[[], Mapping[str, Doc]] | None = None
    #: the answer is the provider's own, relayed with its status (passthrough); else errors are ours
    relayed: bool = False
    #: the status of a successful answer (201 for what makes something)
    status: int = 200
    #: the schema of its errors, when not OpenAI's (`openapi.ERROR`): Anthropic's for /v1/messages
    error: Mapping[str, Any] | None = None


@dataclass(slots=True, frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    label: str
    auth: bool = True
    metered: bool = False
    errors: ErrorRenderer = openai_error
    #: the status an error is answered with (an API may have its own for some: Anthropic's 529)
    status: Callable[[HubrouteError], int] = lambda exc: exc.status
    prefix: bool = False
    match: Callable[[App, str], bool] | None = None
    doc: Doc | None = None
    #: what the caller's key must allow: "inference" (the model routes), "admin" (the admin API)
    scope: str = "inference"
    #: a path with `{name}` parameters (one segment each), as a regular expression
    template: re.Pattern[str] | None = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if "{" in self.path and not self.prefix and self.match is None:
            regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
            object.__setattr__(self, "template", re.compile(regex))

    def params(self, path: str) -> dict[str, str]:
        """The values of a template route's parameters in `path` (decoded once already, by the HTTP
        server, as ASGI has it: decoding it again would read a name's own `%41` as `A`)."""
        found = self.template.fullmatch(path) if self.template is not None else None
        return found.groupdict() if found else {}


class RouteTable:
    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        plain = [r for r in self.routes if not r.prefix and r.match is None and r.template is None]
        self.exact = {(r.method, r.path): r for r in plain}
        self._templates = tuple(r for r in self.routes if r.template is not None)
        self._prefixes = tuple(r for r in self.routes if r.prefix)
        self._matched = tuple(r for r in self.routes if r.match is not None)
        self._paths = {r.path for r in plain}

    def find(self, app: App, method: str, path: str) -> Route | None:
        """The route for a request (the app looks `exact` up itself first: one call less per request)."""
        route = self.exact.get((method, path))
        if route is not None:
            return route
        for r in self._templates:
            if r.method == method and r.template.fullmatch(path):  # type: ignore[union-attr]
                return r
        for r in self._prefixes:
            if r.method == method and path.startswith(r.path) and len(path) > len(r.path):
                return r
        for r in self._matched:
            if r.method == method and r.match(app, path):  # type: ignore[misc]
                return r
        return None

    def knows_path(self, path: str) -> bool:
        """Whether some route serves `path` with another method (a 405, not a 404)."""
        return path in self._paths or any(path.startswith(r.path) and len(path) > len(r.path)
                                          for r in self._prefixes) or any(
            r.template.fullmatch(path) for r in self._templates)  # type: ignore[union-attr]
