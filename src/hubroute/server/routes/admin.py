"""The admin API, `/admin/v1/...` (the master key, or a key of a user who administers the deployment),
and `GET /v1/key`, a key's view of itself.

    POST   /admin/v1/users                  {"name", "admin"?, "limits"?, "metadata"?}   201
    GET    /admin/v1/users                  GET|PATCH|DELETE /admin/v1/users/{user}
    POST   /admin/v1/orgs                   {"name", "limits"?, "metadata"?}           201
    GET    /admin/v1/orgs                   GET|PATCH|DELETE /admin/v1/orgs/{org}
    POST   /admin/v1/orgs/{org}/members     {"user", "role": "admin" | "member"}       201
    GET    /admin/v1/orgs/{org}/members     DELETE /admin/v1/orgs/{org}/members/{user}
    POST   /admin/v1/keys                   {"user" | "org", "name"?, "models"?, "providers"?, "surfaces"?,
                                             "limits"?: {"rpm", "tpm", "concurrency"},
                                             "budget"?: {"usd", "period"}, "bill_to"?, "expires_at"?,
                                             "metadata"?}                              201, with "key"
    GET    /admin/v1/keys?user=&org=&revoked=    GET|PATCH /admin/v1/keys/{id}
    DELETE /admin/v1/keys/{id}              revokes                       POST /admin/v1/keys/{id}/rotate

Users and organisations are named by id or name. Bodies are validated (a 400 names the field);
lists come as `{"data": [...]}`. A PATCH changes the fields it names; in its `limits`, the limits it
names (null removes one), the others kept; on a key, null removes a restriction (`models`,
`providers`, `surfaces`: any), its `budget` or its `expires_at`. A key's secret is in the answer of
its creation and of a rotation, never again. Changes to a key take effect at once on this router,
within a second on the others.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qs

import msgspec

from hubroute.errors import Conflict, InvalidRequest, NotFound, Unavailable
from hubroute.money import nano, usd
from hubroute.server.asgi import Scope, parse_json_object, read_body, send_bytes, send_json

if TYPE_CHECKING:
    from hubroute.server.app import App
    from hubroute.server.record import RequestRecord
    from hubroute.store.accounts import Accounts


class _Body(msgspec.Struct, forbid_unknown_fields=True):
    pass


Metadata = dict[str, Any]
#: the largest limit the store keeps (its columns are 32-bit integers on PostgreSQL)
MAX_LIMIT = 2**31 - 1
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
#: the largest amount a grant or a budget may be, in dollars (amounts are kept in nano-dollars, as
#: 64-bit integers: a billion dollars is 10^18 of them, with room left for the sums of several)
MAX_USD = 1e9
Dollars = Annotated[float, msgspec.Meta(ge=0, le=MAX_USD)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class Limits(_Body):
    #: requests and tokens per minute, requests in progress at once
    rpm: Limit | None = None
    tpm: Limit | None = None
    concurrency: Limit | None = None


class LimitsChange(_Body):
    """Limits to change: those named are set (null: removed), the others kept."""

    rpm: Limit | msgspec.UnsetType | None = msgspec.UNSET
    tpm: Limit | msgspec.UnsetType | None = msgspec.UNSET
    concurrency: Limit | msgspec.UnsetType | None = msgspec.UNSET


class NewUser(_Body):
    name: Name
    admin: bool = False
    #: over all of the user's keys
    limits: Limits | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class UserChange(_Body):
    admin: bool | None = None
    blocked: bool | None = None
    limits: LimitsChange | None = None
    metadata: Metadata | None = None


class NewOrg(_Body):
    name: Name
    #: over all the requests the organisation's keys make, and those billed to it by default
    limits: Limits | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class OrgChange(_Body):
    blocked: bool | None = None
    limits: LimitsChange | None = None
    metadata: Metadata | None = None


class NewMember(_Body):
    user: str
    role: Literal["admin", "member"] = "member"


Period = Literal["day", "week", "month", "total"]


class Budget(_Body):
    usd: Dollars
    period: Period = "month"


class BudgetChange(_Body):
    """A key's new budget: its period, if not named, the one it had (a month for a key that had none)."""

    usd: Dollars
    period: Period | msgspec.UnsetType = msgspec.UNSET


Patterns = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=256)]], msgspec.Meta(max_length=1000)]


class NewKey(_Body):
    user: str | None = None
    org: str | None = None
    name: Annotated[str, msgspec.Meta(max_length=128)] = ""
    #: model patterns (`meta-llama/*`, `*:groq`, an alias), provider names, API surfaces (`chat`, ...)
    models: Patterns | None = None
    providers: Patterns | None = None
    surfaces: Patterns | None = None
    limits: Limits | None = None
    budget: Budget | None = None
    bill_to: str | None = None
    expires_at: datetime | None = None
    metadata: Metadata = msgspec.field(default_factory=dict)


class KeyChange(_Body):
    """A key's settings to change: those named; `null` removes a restriction (any model, provider or
    surface), a budget or an expiry. `name`, `blocked` and `metadata` cannot be null."""

    name: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    blocked: bool | None = None
    models: Patterns | msgspec.UnsetType | None = msgspec.UNSET
    providers: Patterns | msgspec.UnsetType | None = msgspec.UNSET
    surfaces: Patterns | msgspec.UnsetType | None = msgspec.UNSET
    limits: LimitsChange | None = None
    budget: BudgetChange | msgspec.UnsetType | None = msgspec.UNSET
    expires_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    metadata: Metadata | None = None


T = TypeVar("T")


def _decode(raw: bytes, kind: type[T]) -> T:
    """The request body as `kind`, or a 400 naming the field at fault."""
    body = parse_json_object(raw)
    _no_nul(body, "")
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        problem, _, where = message.partition(" - at `$")
        field = where.rstrip("`").lstrip(".") or None
        if problem.startswith("Object contains unknown field"):
            field = problem.split("`")[1]
            problem = "unknown field"
        raise InvalidRequest(f"'{field}': {problem}" if field else problem, param=field) from None


def _no_nul(value: Any, at: str) -> None:
    """Refuse (400) a NUL character anywhere in a body's text, keys included: the store's text
    cannot hold one on PostgreSQL, and no name, note or pattern needs it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequest(f"'{at or 'body'}': text may not hold a NUL character (\\u0000)", param=at or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{at}.{key}" if at else str(key)
            _no_nul(key, where)
            _no_nul(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _no_nul(item, f"{at}[{i}]")


async def _limits(app: App, body: Any) -> dict[str, Any] | None:
    """The body's `limits` (refused, with a `budget`, where each process would hold them: `_one_process`)."""
    limits: dict[str, Any] | None = msgspec.to_builtins(body.limits) if body.limits is not None else None
    budget = getattr(body, "budget", None)
    if budget is not None and budget is not msgspec.UNSET:
        await _one_process(app, "budget")
    if any(v is not None for v in (limits or {}).values()):
        await _one_process(app, "rate limit")
    return limits


async def _one_process(app: App, what: str = "budget") -> None:
    """Without Redis (`redis.url`), budgets and rate limits are held by each router process: while
    several workers run, or another router uses the store, each would allow the whole of one, so
    none is set (`server/workers.py`, `store/presence.py`)."""
    if app.settings.redis.url:
        return
    workers = app.settings.server.workers
    if workers > 1:
        raise Conflict(f"this router runs {workers} workers, each of which would hold a {what} on its own "
                       "(allowing the whole of it): set it on a router with one worker, or set redis.url")
    others = await app.presence.others() if app.presence is not None else []
    if others:
        from hubroute.store.presence import described

        raise Conflict(f"{described(others[0])} uses this store too, and each would hold a {what} on its own "
                       "(allowing the whole of it): set redis.url on every router to share them")


def accounts(app: App) -> Accounts:
    if app.store is None:
        raise Unavailable("this router runs without a store (store.enabled: false): no accounts or keys")
    return app.store.accounts


async def _body(app: App, receive: Any) -> bytes:
    return await read_body(receive, 1024 * 1024, app.body_timeout)


def _query(ctx: RequestRecord) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(ctx.query.decode(errors="replace")).items()}


def _in_utc(moment: datetime, param: str) -> datetime:
    """`moment` in UTC (a naive one is UTC already); a 400 when that takes it past the years a
    datetime holds (9999-12-31T23:00:00-05:00)."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"'{param}': outside the years 1 to 9999", param=param) from None


def _moment(value: datetime | None, param: str) -> datetime | None:
    if value is None:
        return None
    value = _in_utc(value, param)
    if value <= datetime.now(UTC):
        raise InvalidRequest(f"'{param}' is in the past", param=param)
    return value


def _surfaces(app: App, surfaces: list[str] | None) -> list[str] | None:
    if surfaces is None:
        return None
    known = sorted({r.label for r in app.routes.routes if r.metered})
    for name in surfaces:
        if name not in known:
            raise InvalidRequest(f"'surfaces': unknown surface '{name}' (one of {', '.join(known)})",
                                 param="surfaces")
    return surfaces


# --- users ---------------------------------------------------------------------------------------------
async def create_user(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewUser)
    limits = await _limits(app, body)
    await send_json(send, ctx, 201, await accounts(app).create_user(body.name, admin=body.admin,
                                                                    metadata=body.metadata, limits=limits))


async def list_users(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, {"data": await accounts(app).users()})


async def get_user(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, await accounts(app).user(ctx.params["user"]))


async def update_user(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), UserChange)
    user = await accounts(app).update_user(ctx.params["user"], admin=body.admin, blocked=body.blocked,
                                           metadata=body.metadata, limits=await _limits(app, body))
    app.forget_keys()  # its keys' standing changed: read anew
    await send_json(send, ctx, 200, user)


async def delete_user(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    user = await accounts(app).user(ctx.params["user"])
    await accounts(app).delete_user(user["id"])
    app.forget_keys()
    await send_json(send, ctx, 200, {"id": user["id"], "name": user["name"], "deleted": True})


# --- organisations -------------------------------------------------------------------------------------
async def create_org(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewOrg)
    await send_json(send, ctx, 201, await accounts(app).create_org(body.name, metadata=body.metadata,
                                                                   limits=await _limits(app, body)))


async def list_orgs(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, {"data": await accounts(app).orgs()})


async def get_org(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    org = await accounts(app).org(ctx.params["org"])
    await send_json(send, ctx, 200, {**org, "members": await accounts(app).members(org["id"])})


async def update_org(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), OrgChange)
    org = await accounts(app).update_org(ctx.params["org"], blocked=body.blocked, metadata=body.metadata,
                                         limits=await _limits(app, body))
    app.forget_keys()
    await send_json(send, ctx, 200, org)


async def delete_org(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    org = await accounts(app).org(ctx.params["org"])
    await accounts(app).delete_org(org["id"])
    app.forget_keys()
    await send_json(send, ctx, 200, {"id": org["id"], "name": org["name"], "deleted": True})


async def add_member(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewMember)
    await send_json(send, ctx, 201, await accounts(app).add_member(ctx.params["org"], body.user, body.role))


async def list_members(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, {"data": await accounts(app).members(ctx.params["org"])})


async def remove_member(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    org, user = await accounts(app).org(ctx.params["org"]), await accounts(app).user(ctx.params["user"])
    await accounts(app).remove_member(org["id"], user["id"])
    await send_json(send, ctx, 200, {"org": org["name"], "user": user["name"], "deleted": True})


# --- keys ----------------------------------------------------------------------------------------------
async def create_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewKey)
    record, secret = await accounts(app).create_key(
        user=body.user, org=body.org, name=body.name, models=body.models, providers=body.providers,
        surfaces=_surfaces(app, body.surfaces), limits=await _limits(app, body),
        budget_nano=nano(body.budget.usd) if body.budget else None,
        budget_period=body.budget.period if body.budget else None,
        bill_to=body.bill_to, expires_at=_moment(body.expires_at, "expires_at"), metadata=body.metadata)
    await send_json(send, ctx, 201, {**record, "key": secret})


async def list_keys(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    found = await accounts(app).keys(user=query.get("user"), org=query.get("org"),
                                     revoked=query.get("revoked", "").lower() in ("1", "true", "yes"))
    await send_json(send, ctx, 200, {"data": found})


async def get_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    await send_json(send, ctx, 200, await accounts(app).key(ctx.params["id"]))


async def update_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), KeyChange)
    key_id = ctx.params["id"]
    changes: dict[str, Any] = {k: v for k, v in (("name", body.name), ("blocked", body.blocked),
                                                 ("metadata", body.metadata), ("limits", await _limits(app, body)))
                               if v is not None}
    if body.models is not msgspec.UNSET:
        changes["models"] = body.models
    if body.providers is not msgspec.UNSET:
        changes["providers"] = body.providers
    if body.surfaces is not msgspec.UNSET:
        changes["surfaces"] = _surfaces(app, body.surfaces)
    if body.budget is None:
        changes["budget_nano"] = changes["budget_period"] = None
    elif body.budget is not msgspec.UNSET:
        changes["budget_nano"] = nano(body.budget.usd)
        if body.budget.period is not msgspec.UNSET:
            changes["budget_period"] = body.budget.period
    if body.expires_at is not msgspec.UNSET:
        changes["expires_at"] = _moment(body.expires_at, "expires_at")
    record = await accounts(app).update_key(key_id, **changes)
    app.forget_keys(key_id)
    await send_json(send, ctx, 200, record)


async def revoke_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    key_id = ctx.params["id"]
    record = await accounts(app).revoke_key(key_id)
    app.forget_keys(key_id)
    await send_json(send, ctx, 200, record)


async def rotate_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    key_id = ctx.params["id"]
    record, secret = await accounts(app).rotate_key(key_id)
    app.forget_keys(key_id)
    await send_json(send, ctx, 200, {**record, "key": secret})


# --- a key's own view ----------------------------------------------------------------------------------
async def own_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    """`GET /v1/key`: the calling key's settings and limits (the master key and anonymous callers have
    none to show)."""
    principal = ctx.principal
    if not principal.stored:
        who = "the master key" if principal.key_id == "master" else "a request without a key"
        raise NotFound(f"GET /v1/key describes a key made with the admin API; this is {who}")
    assert principal.key_id is not None
    from hubroute.store.reports import key_usage, period_end

    store = accounts(app)
    record = await store.key(principal.key_id)
    async with store.transaction() as conn:
        used = await key_usage(conn, principal.key_id)
    budget = record["budget"]
    if budget is not None and app.billing is not None:
        spent = await app.billing.spent(("key", principal.key_id, budget["period"]))
        end = period_end(budget["period"])
        budget = {**budget, "spent_usd": usd(spent), "left_usd": max(budget["usd"] - usd(spent), 0.0),
                  "resets_at": end.isoformat().replace("+00:00", "Z") if end else None}
    kind, owner = ("org", principal.bill_to or principal.org) if principal.bill_to or principal.org else \
        ("user", principal.user)
    credits = {"account": kind, "balance_usd": usd(await _balance(app, kind, owner))} if owner else None
    await send_json(send, ctx, 200, {**{k: record[k] for k in (
        "id", "prefix", "name", "user", "org", "bill_to", "models", "providers", "surfaces", "limits",
        "expires_at", "created_at")}, "budget": budget, "credits": credits, "usage": used})

# --- what the OpenAPI document says of the answers --------------------------------------------------------
_TIME = {"type": ["string", "null"], "format": "date-time"}
_NAMES = {"type": ["array", "null"], "items": {"type": "string"}}
_LIMITS = {"type": "object", "description": "requests and tokens per minute, requests at once (null: no limit)",
           "required": ["rpm", "tpm", "concurrency"], "properties": {
               name: {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_LIMIT}
               for name in ("rpm", "tpm", "concurrency")}}
USER = {"type": "object", "required": ["id", "name", "admin", "blocked", "limits", "metadata", "created_at"],
        "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "admin": {"type": "boolean"}, "blocked": {"type": "boolean"},
    "limits": _LIMITS, "metadata": {"type": "object"}, "created_at": _TIME}}
ORG = {"type": "object", "required": ["id", "name", "blocked", "limits", "metadata", "created_at"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "blocked": {"type": "boolean"},
    "limits": _LIMITS, "metadata": {"type": "object"}, "created_at": _TIME,
    "members": {"type": "array", "items": {"type": "object"}}}}
MEMBER = {"type": "object", "required": ["user", "role"], "properties": {
    "org": {"type": "string"}, "user": {"type": "string"}, "role": {"enum": ["admin", "member"]},
    "since": _TIME}}
KEY = {"type": "object", "required": ["id", "prefix", "name", "status", "limits", "created_at"], "properties": {
    "id": {"type": "string"}, "prefix": {"type": "string", "description": "hf_hr_<id>: the key's visible part"},
    "key": {"type": "string", "description": "The key itself: only in the answers of its creation and rotation"},
    "name": {"type": "string"}, "user": {"type": ["string", "null"]}, "org": {"type": ["string", "null"]},
    "bill_to": {"type": ["string", "null"]}, "models": _NAMES, "providers": _NAMES, "surfaces": _NAMES,
    "limits": _LIMITS, "budget": {"type": ["object", "null"]}, "metadata": {"type": "object"},
    "blocked": {"type": "boolean"}, "status": {"enum": ["active", "revoked", "expired", "blocked"]},
    "created_at": _TIME, "expires_at": _TIME, "revoked_at": _TIME, "rotated_at": _TIME}}
DELETED = {"type": "object", "required": ["deleted"], "properties": {"deleted": {"const": True}}}


def listing(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": item}}}


def schema(kind: type[Any]) -> dict[str, Any]:
    """A request body's JSON schema, from the type it is validated with."""
    found: dict[str, Any] = msgspec.json.schema(kind)
    defs = found.pop("$defs", {})
    body: dict[str, Any] = defs.get(kind.__name__, found) if "$ref" in found else found
    inlined: dict[str, Any] = _inline(body, defs)
    return inlined


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


# --- usage ---------------------------------------------------------------------------------------------
def _date(value: str | None, param: str, *, end: bool = False) -> datetime | None:
    """A `from` / `to` bound: a date (`2026-12-01`: that day's start; as `to`, the day is included) or
    an ISO date-time (UTC unless it says otherwise)."""
    if not value:
        return None
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"'{param}': expected a date (2026-12-01) or an ISO date-time", param=param) from None
    except OverflowError:  # (9999-12-31 as `to`: its next day is past the years a datetime holds)
        raise InvalidRequest(f"'{param}': outside the years 1 to 9999", param=param) from None
    return _in_utc(moment, param)


async def get_usage(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    """`GET /admin/v1/usage?group_by=day,model&from=&to=&user=&org=&key=&limit=&format=json|csv`."""
    from hubroute.store.reports import report

    query = _query(ctx)
    group_by = [g.strip() for g in query.get("group_by", "").split(",") if g.strip()]
    start, end = _date(query.get("from"), "from"), _date(query.get("to"), "to", end=True)
    try:
        limit = int(query.get("limit", "1000"))
    except ValueError:
        limit = -1
    if limit < 1:
        raise InvalidRequest("'limit': expected a positive number of rows", param="limit")
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidRequest("'format': json or csv", param="format")
    store = accounts(app)
    user_id = (await store.user(query["user"]))["id"] if "user" in query else None
    org_id = (await store.org(query["org"]))["id"] if "org" in query else None
    key_id = (await store.key(query["key"]))["id"] if "key" in query else None
    async with store.transaction() as conn:
        data = await report(conn, group_by=group_by, start=start, end=end, user_id=user_id, org_id=org_id,
                            key_id=key_id, limit=limit)
    if fmt == "csv":
        await send_bytes(send, ctx, 200, _csv(data, group_by), [(b"content-type", b"text/csv; charset=utf-8")])
    else:
        await send_json(send, ctx, 200, {"data": data})


def _csv(data: list[dict[str, Any]], group_by: list[str]) -> bytes:
    """CSV with the same columns whether or not there are rows."""
    import csv
    import io

    from hubroute.store.reports import columns

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(group_by), lineterminator="\n")
    writer.writeheader()
    writer.writerows(data)
    return out.getvalue().encode()


USAGE_QUERY = {
    "group_by": {"type": "string", "description": "day, model, provider, user, org, key, surface, task, status; "
                 "several with commas. Without it: the rows themselves, newest first"},
    "from": {"type": "string", "description": "a date (2026-12-01) or an ISO date-time"},
    "to": {"type": "string", "description": "a date (included) or an ISO date-time (excluded)"},
    "user": {"type": "string"}, "org": {"type": "string"}, "key": {"type": "string"},
    "limit": {"type": "string", "description": "rows at most (default 1000)"},
    "format": {"enum": ["json", "csv"]},
}
USAGE = listing({"type": "object"})


# --- credits and budgets -------------------------------------------------------------------------------
class Grant(_Body):
    #: credits granted (negative: deducted)
    usd: Annotated[float, msgspec.Meta(ge=-MAX_USD, le=MAX_USD)]
    user: str | None = None
    org: str | None = None
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class NewBudget(_Body):
    usd: Dollars
    period: Literal["day", "week", "month", "total"] = "month"
    user: str | None = None
    org: str | None = None
    #: whether requests on the account's own provider keys count against it
    include_byok: bool = True


async def _balance(app: App, kind: str, account_id: str) -> int:
    """Credits left: as this router holds them (charges not yet written included), else the database's."""
    known = await app.billing.balance((kind, account_id)) if app.billing is not None else None
    return known if known is not None else await accounts(app).credits((kind, account_id))


async def grant_credits(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), Grant)
    try:
        amount = nano(body.usd)
    except ValueError:
        raise InvalidRequest("'usd': not an amount of dollars", param="usd") from None
    if amount == 0:
        raise InvalidRequest("'usd': a grant of nothing", param="usd")
    kind, found = await accounts(app).account(body.user, body.org)
    await accounts(app).grant(kind, found["id"], amount, body.note, ctx.principal.key_id)
    if app.billing is not None:
        await app.billing.credited((kind, found["id"]), amount)
    await send_json(send, ctx, 201, {kind: found["name"], "granted_usd": usd(amount),
                                     "balance_usd": usd(await _balance(app, kind, found["id"]))})


async def get_credits(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    kind, found = await accounts(app).account(query.get("user"), query.get("org"))
    history = await accounts(app).grants(kind, found["id"])
    await send_json(send, ctx, 200, {kind: found["name"], "balance_usd": usd(await _balance(app, kind, found["id"])),
                                     "history": history})


async def set_budget(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewBudget)
    await _one_process(app)
    kind, found = await accounts(app).account(body.user, body.org)
    budget = await accounts(app).set_budget(kind, found["id"], nano(body.usd), body.period, body.include_byok)
    if app.billing is not None:
        app.billing.forget_budgets()
    await send_json(send, ctx, 200, {kind: found["name"], **budget})


async def list_budgets(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    kind, found = await accounts(app).account(query.get("user"), query.get("org"))
    rows = await accounts(app).budgets_of((kind, found["id"]))
    await send_json(send, ctx, 200, {"data": [{kind: found["name"], "usd": usd(r["usd_nano"]), "period": r["period"],
                                               "include_byok": r["include_byok"]} for r in rows]})


async def delete_budget(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    kind, found = await accounts(app).account(query.get("user"), query.get("org"))
    period = query.get("period", "month")
    await accounts(app).delete_budget(kind, found["id"], period)
    if app.billing is not None:
        app.billing.forget_budgets()
    await send_json(send, ctx, 200, {kind: found["name"], "period": period, "deleted": True})


CREDITS = {"type": "object", "required": ["balance_usd"], "properties": {
    "user": {"type": "string"}, "org": {"type": "string"}, "balance_usd": {"type": "number"},
    "granted_usd": {"type": "number"}, "history": {"type": "array", "items": {"type": "object"}}}}
BUDGET = {"type": "object", "required": ["usd", "period"], "properties": {
    "user": {"type": "string"}, "org": {"type": "string"}, "usd": {"type": "number"},
    "period": {"enum": ["day", "week", "month", "total"]}, "include_byok": {"type": "boolean"}}}
ACCOUNT_QUERY = {"user": {"type": "string"}, "org": {"type": "string"}}


# --- provider keys users and organisations bring -------------------------------------------------------
class NewProviderKey(_Body):
    provider: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    user: str | None = None
    org: str | None = None


def _own_keys(app: App) -> Any:
    if app.provider_keys is None:
        raise Unavailable("this router runs without a store (store.enabled: false): no provider keys")
    return app.provider_keys


async def put_provider_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    body = _decode(await _body(app, receive), NewProviderKey)
    if app.upstreams.provider(body.provider) is None:
        raise InvalidRequest(f"'provider': unknown provider '{body.provider}'", param="provider")
    kind, found = await accounts(app).account(body.user, body.org)
    stored = await _own_keys(app).put((kind, found["id"]), body.provider, body.key)
    if app.own_keys is not None:
        app.own_keys.forget()
    await send_json(send, ctx, 200, {kind: found["name"], **stored})


async def list_provider_keys(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    kind, found = await accounts(app).account(query.get("user"), query.get("org"))
    rows = await _own_keys(app).listing((kind, found["id"]))
    await send_json(send, ctx, 200, {"data": [{kind: found["name"], **row} for row in rows]})


async def delete_provider_key(app: App, ctx: RequestRecord, scope: Scope, receive: Any, send: Any) -> None:
    query = _query(ctx)
    kind, found = await accounts(app).account(query.get("user"), query.get("org"))
    provider = query.get("provider", "")
    await _own_keys(app).delete((kind, found["id"]), provider)
    if app.own_keys is not None:
        app.own_keys.forget()
    await send_json(send, ctx, 200, {kind: found["name"], "provider": provider, "deleted": True})


PROVIDER_KEY = {"type": "object", "required": ["provider", "last4"], "properties": {
    "user": {"type": "string"}, "org": {"type": "string"}, "provider": {"type": "string"},
    "last4": {"type": "string", "description": "the key's last characters (the key itself is never shown)"},
    "created_at": _TIME}}
