"""`hubroute users|orgs|keys|credits|budgets|usage`: administering a router, local or remote, over its HTTP
admin API (`/admin/v1/...`, server/routes/admin.py).

    hubroute users list|create NAME [--admin] [LIMITS]|set USER LIMITS|show USER|block USER|unblock USER
                  |delete USER
    hubroute orgs list|create NAME [LIMITS]|set ORG LIMITS|show ORG|delete ORG|add-member ORG USER [--role R]
                 |remove-member ORG USER
    hubroute keys list [--user U] [--org O] [--revoked]|create (--user U | --org O) [...]|set ID [...]|show ID
                  |revoke ID|rotate ID|block ID|unblock ID
    hubroute credits show (--user U | --org O)|grant (--user U | --org O) USD [--note TEXT]
    hubroute budgets list (--user U | --org O)|set (...) USD [--period P]|delete (...) [--period P]
    hubroute usage [--group-by day,model] [--from DATE] [--to DATE] [--user U] [--org O] [--key-id ID]
                   [--limit N] [--csv]

LIMITS are `--rpm N --tpm N --concurrency N` (requests and tokens per minute, requests at once), any of
them; `set` changes those given and keeps the others, and takes `none` to remove one. `keys set` changes a
key's other settings the same way: those given (a list given replaces the key's), the others kept.

Every command takes `--url` ($HUBROUTE_URL, else http://127.0.0.1:8080), `--key` ($HUBROUTE_MASTER_KEY, else
$HUBROUTE_KEY; sent as `Authorization: Bearer`) and `--json` (the API's answer as it came, pretty). Without
`--json`: an aligned table for a listing, `field: value` lines for one object. `usage` filters by key with
`--key-id`, because `--key` is the credential everywhere. A failure is one line on stderr, `hubroute: ...`,
and exit 1; the key is never printed, nor sent on to where a redirect points. HTTP is the standard library's
(urllib, imported when a command runs), so `hubroute serve` pays nothing for these commands.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT = 30.0
PERIODS = click.Choice(["day", "week", "month", "total"])
POSITIVE = click.IntRange(min=1)
#: the rate limits of keys, users and organisations, with their options' help
LIMITS = {"rpm": "Requests per minute at most.", "tpm": "Tokens per minute at most.",
          "concurrency": "Requests at once at most."}
NO_LIMIT = "none"


class Failed(Exception):
    """What went wrong, in one line for stderr; the command exits 1."""


# --- the API -----------------------------------------------------------------------------------------
class Api:
    """The admin API of the router at `url`, called with `key`."""

    def __init__(self, url: str, key: str | None, as_json: bool) -> None:
        self.url, self.key, self.as_json = url.rstrip("/"), key or None, as_json

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             query: dict[str, str] | None = None) -> Any:
        """The answer's JSON (a 4xx or 5xx answer, or no answer at all: `Failed`)."""
        import json

        raw = self._send(method, path, body, query)
        try:
            return json.loads(raw)
        except ValueError:
            raise Failed(f"{self.shown_url} answered something that is not JSON: is it a hubroute router?") from None

    def text(self, path: str, query: dict[str, str]) -> str:
        return self._send("GET", path, None, query).decode("utf-8", errors="replace")

    @property
    def shown_url(self) -> str:
        """The URL without a password in it."""
        scheme, sep, rest = self.url.partition("://")
        host, slash, path = rest.partition("/")
        if sep and "@" in host:
            host = "***@" + host.rpartition("@")[2]
        return f"{scheme}{sep}{host}{slash}{path}"

    def scrub(self, message: str) -> str:
        return message.replace(self.key, "***") if self.key else message

    def _request(self, method: str, path: str, body: dict[str, Any] | None, query: dict[str, str] | None) -> Any:
        """The urllib request, once the URL and the key are seen to be usable."""
        import json
        import urllib.request
        from urllib.parse import urlencode, urlsplit

        try:
            parts = urlsplit(self.url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise Failed(f"cannot reach {self.shown_url}: expected http(s)://host[:port] (a key goes in --key)")
        headers = {"accept": "application/json", "user-agent": "hubroute-cli"}
        if self.key:
            if not all(33 <= ord(c) < 127 for c in self.key):
                raise Failed("the key (--key, $HUBROUTE_MASTER_KEY or $HUBROUTE_KEY) holds characters that an HTTP "
                             "header cannot carry (spaces, line breaks, non-ASCII)")
            headers["authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data, headers["content-type"] = json.dumps(body).encode(), "application/json"
        target = self.url + path + (f"?{urlencode(query)}" if query else "")
        return urllib.request.Request(target, data=data, headers=headers, method=method)  # noqa: S310

    def _send(self, method: str, path: str, body: dict[str, Any] | None, query: dict[str, str] | None) -> bytes:
        import http.client
        import urllib.error
        import urllib.request

        request = self._request(method, path, body, query)
        try:
            with urllib.request.build_opener(_no_redirect()).open(request, timeout=TIMEOUT) as answer:
                raw: bytes = answer.read()
                return raw
        except urllib.error.HTTPError as exc:
            try:
                error_body = exc.read()
            except (OSError, http.client.HTTPException):
                error_body = b""
            raise Failed(self._refusal(exc.code, exc.reason, exc.headers, error_body)) from None
        except urllib.error.URLError as exc:
            raise Failed(f"cannot reach {self.shown_url}: {_reason(exc.reason)}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise Failed(f"cannot reach {self.shown_url}: {_reason(exc)}") from None

    def _refusal(self, status: int, reason: str, headers: Any, raw: bytes) -> str:
        """The error an answer of `status` carries: the API's own message, else the status."""
        import json

        if 300 <= status < 400:
            return (f"{self.shown_url} answered {status} {reason}, a redirect to {headers.get('location')}: "
                    "give --url the address it points to (the key is not sent on to another address)")
        try:
            error = json.loads(raw)["error"]
            message = " ".join(str(error["message"]).splitlines())
        except (ValueError, TypeError, KeyError):
            return f"{self.shown_url} answered {status} {reason}"
        if status == 401 and not self.key:
            message += " (give --key, or set HUBROUTE_MASTER_KEY)"
        return message


def _reason(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return exc
    if isinstance(exc, TimeoutError):
        return f"no answer in {TIMEOUT:g} s"
    if isinstance(exc, OSError) and exc.strerror:
        return str(exc.strerror)
    return str(exc) or type(exc).__name__


def _no_redirect() -> Any:
    """A redirect handler that follows none: the 3xx answer becomes an HTTPError (the key stays here)."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    return NoRedirect()


def path(*parts: str) -> str:
    from urllib.parse import quote

    return "/admin/v1/" + "/".join(quote(p, safe="") for p in parts)


# --- output ------------------------------------------------------------------------------------------
Column = tuple[str, str | Callable[[dict[str, Any]], Any]]


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.9f}".rstrip("0").rstrip(".")  # dollars: to the nano-dollar
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items() if v is not None) or "-"
    return " ".join(str(value).splitlines())


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> str:
    """An aligned table: a heading line, then a line per row (numbers on the right)."""
    if not rows:
        return "(none)"
    values = [[f(row) if callable(f) else row.get(f) for _, f in columns] for row in rows]
    numeric = [all(isinstance(v, int | float) and not isinstance(v, bool) for v in column)
               for column in zip(*values, strict=True)]
    cells = [[heading for heading, _ in columns], *[[cell(v) for v in line] for line in values]]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]

    def line(texts: list[str]) -> str:
        aligned = zip(texts, widths, numeric, strict=True)
        return "  ".join(t.rjust(w) if num else t.ljust(w) for t, w, num in aligned).rstrip()

    return "\n".join(line(texts) for texts in cells)


def fields(obj: dict[str, Any], skip: Sequence[str] = ()) -> str:
    """`field: value` lines, aligned."""
    shown = {k: v for k, v in obj.items() if k not in skip}
    width = max((len(k) for k in shown), default=0) + 1
    return "\n".join(f"{k + ':':<{width}} {cell(v)}" for k, v in shown.items())


def emit(api: Api, data: Any, render: Callable[[Any], str]) -> None:
    """The answer as JSON (`--json`), else as `render` makes it readable."""
    if api.as_json:
        import json

        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(render(data))


def listing(columns: Sequence[Column]) -> Callable[[Any], str]:
    return lambda data: table(data["data"], columns)


def key_text(key: dict[str, Any]) -> str:
    """A key's fields; no list of models, providers or surfaces means any."""
    return fields({k: "any" if v is None and k in ("models", "providers", "surfaces") else v
                   for k, v in key.items()}, skip=("key",))


def with_secret(key: dict[str, Any]) -> str:
    return "\n".join([key_text(key), "", "The new key, shown only this once (the router keeps only "
                      "its hash): store it now.", "", f"    {key['key']}", ""])


# --- shared options ----------------------------------------------------------------------------------
Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def admin_command(group: click.Group | None, name: str, **settings: Any) -> Callable[[Callable[..., None]], Any]:
    """`group`'s command `name`, with --url, --key and --json; the function gets an `Api` first.
    A `Failed` (or anything unforeseen) ends it with one line on stderr and exit 1, never a traceback."""

    def wrap(fn: Callable[..., None]) -> Any:
        @functools.wraps(fn)
        def run(url: str, api_key: str | None, as_json: bool, **kw: Any) -> None:
            api = Api(url, api_key, as_json)
            try:
                fn(api, **kw)
            except Failed as exc:
                click.echo(f"hubroute: {api.scrub(str(exc))}", err=True)
                sys.exit(1)
            except click.ClickException:  # a usage error: click's message, exit 2
                raise
            except Exception as exc:  # a bug or an answer of an unexpected shape: still one line
                click.echo(f"hubroute: unexpected {type(exc).__name__}: {api.scrub(str(exc))}", err=True)
                sys.exit(1)

        run = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON answer.")(run)
        run = click.option("--key", "api_key", default=lambda: os.environ.get("HUBROUTE_MASTER_KEY")
                           or os.environ.get("HUBROUTE_KEY"), help="The master key, or an administrator's key "
                           "(default: $HUBROUTE_MASTER_KEY, else $HUBROUTE_KEY).")(run)
        run = click.option("--url", default=lambda: os.environ.get("HUBROUTE_URL") or DEFAULT_URL,
                           help=f"The router's address (default: $HUBROUTE_URL, else {DEFAULT_URL}).")(run)
        return (group.command if group is not None else click.command)(name, **settings)(run)

    return wrap


def account_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--org", help="An organisation (id or name).")(fn)
    return click.option("--user", help="A user (id or name).")(fn)


def account(user: str | None, org: str | None) -> dict[str, str]:
    """{"user": ...} or {"org": ...}: exactly one of --user and --org."""
    if (user is None) == (org is None):
        raise click.UsageError("give --user or --org (one of them)")
    if user is not None:
        return {"user": user}
    assert org is not None
    return {"org": org}


class LimitOrNone(click.ParamType[int | str, Any]):
    """A limit to set: a whole number from 1, or `none` (NO_LIMIT) to remove it."""

    name = "limit"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return f"N|{NO_LIMIT}"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | str:
        if isinstance(value, str) and value.strip().lower() == NO_LIMIT:
            return NO_LIMIT
        try:
            number: int = POSITIVE.convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r}: expected a whole number from 1, or {NO_LIMIT} (no limit)", param, ctx)
        return number


def limit_options(kind: click.ParamType[Any, Any], note: str = "") -> Decorator:
    """--rpm, --tpm and --concurrency, of type `kind` (`note` ends their help); the command gets those
    given as `limits`, a dict."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def collect(*args: Any, **kw: Any) -> Any:
            given = {name: kw.pop(name) for name in LIMITS}
            return fn(*args, limits={k: v for k, v in given.items() if v is not None}, **kw)

        for name, text in reversed(LIMITS.items()):
            collect = click.option(f"--{name}", type=kind, help=text + note)(collect)
        return collect

    return add


#: --rpm, --tpm and --concurrency of a `set`: a number, or NO_LIMIT to remove one
changed_limit_options = limit_options(LimitOrNone(), f" {NO_LIMIT}: no limit.")


def limit_changes(limits: dict[str, int | str]) -> dict[str, int | None]:
    """The limits given, as a PATCH names them: NO_LIMIT is null (the limit removed)."""
    return {k: None if v == NO_LIMIT else int(v) for k, v in limits.items()}


def on_one(group: click.Group, name: str, method: str, kind: str, metavar: str, doc: str,
           render: Callable[[Any], str] = fields, body: dict[str, Any] | None = None, then: str = "") -> None:
    """Command `name` on `group`: METHOD /admin/v1/<kind>/<REF>[/<then>] (with `body`), its answer shown
    with `render`."""

    def command(api: Api, ref: str) -> None:
        emit(api, api.call(method, path(kind, ref, *([then] if then else [])), body), render)

    command.__doc__ = doc
    admin_command(group, name)(click.argument("ref", metavar=metavar)(command))


def limits_setter(group: click.Group, kind: str, metavar: str, whose: str) -> None:
    """Command `set` on `group`: PATCH /admin/v1/<kind>/<REF> with the limits given (the API keeps the
    others as they are)."""

    def command(api: Api, ref: str, limits: dict[str, int | str]) -> None:
        if not limits:
            raise click.UsageError(f"give --rpm, --tpm or --concurrency (a number, or {NO_LIMIT} for no limit)")
        emit(api, api.call("PATCH", path(kind, ref), {"limits": limit_changes(limits)}), fields)

    command.__doc__ = (f"Change {whose} rate limits: those given (a number, or {NO_LIMIT} to remove one); "
                       "the others stay as they are.")
    admin_command(group, "set")(click.argument("ref", metavar=metavar)(changed_limit_options(command)))


# --- users -------------------------------------------------------------------------------------------
USER_COLUMNS: list[Column] = [("ID", "id"), ("NAME", "name"), ("ADMIN", "admin"), ("BLOCKED", "blocked"),
                              ("LIMITS", "limits"), ("CREATED", "created_at")]


@click.group()
def users() -> None:
    """Users: who keys belong to."""


@admin_command(users, "list")
def users_list(api: Api) -> None:
    """List users."""
    emit(api, api.call("GET", path("users")), listing(USER_COLUMNS))


@admin_command(users, "create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="The user administers the deployment (its keys reach the admin API).")
@limit_options(POSITIVE, " Over all of the user's keys.")
def users_create(api: Api, name: str, admin: bool, limits: dict[str, int]) -> None:
    """Create a user."""
    emit(api, api.call("POST", path("users"), {"name": name, "admin": admin, "limits": limits}), fields)


limits_setter(users, "users", "USER", "a user's")


on_one(users, "show", "GET", "users", "USER", "A user (by id or name).")
on_one(users, "block", "PATCH", "users", "USER", "Block a user: its keys are refused until it is unblocked.",
       body={"blocked": True})
on_one(users, "unblock", "PATCH", "users", "USER", "Unblock a user.", body={"blocked": False})
on_one(users, "delete", "DELETE", "users", "USER", "Delete a user and its keys.")


# --- organisations -----------------------------------------------------------------------------------
ORG_COLUMNS: list[Column] = [("ID", "id"), ("NAME", "name"), ("BLOCKED", "blocked"), ("LIMITS", "limits"),
                             ("CREATED", "created_at")]


@click.group()
def orgs() -> None:
    """Organisations: users together, with keys and bills of their own."""


@admin_command(orgs, "list")
def orgs_list(api: Api) -> None:
    """List organisations."""
    emit(api, api.call("GET", path("orgs")), listing(ORG_COLUMNS))


@admin_command(orgs, "create")
@click.argument("name")
@limit_options(POSITIVE, " Over the organisation's keys and the keys that bill it by default.")
def orgs_create(api: Api, name: str, limits: dict[str, int]) -> None:
    """Create an organisation."""
    emit(api, api.call("POST", path("orgs"), {"name": name, "limits": limits}), fields)


limits_setter(orgs, "orgs", "ORG", "an organisation's")


def org_text(org: dict[str, Any]) -> str:
    members = table(org.get("members") or [], [("USER", "user"), ("ROLE", "role"), ("SINCE", "since")])
    return f"{fields(org, skip=('members',))}\n\nmembers:\n{members}"


on_one(orgs, "show", "GET", "orgs", "ORG", "An organisation and its members.", org_text)
on_one(orgs, "delete", "DELETE", "orgs", "ORG", "Delete an organisation and its keys.")


@admin_command(orgs, "add-member")
@click.argument("org")
@click.argument("user")
@click.option("--role", type=click.Choice(["admin", "member"]), default="member", show_default=True)
def orgs_add_member(api: Api, org: str, user: str, role: str) -> None:
    """Make USER a member of ORG (a member already: its role changes)."""
    emit(api, api.call("POST", path("orgs", org, "members"), {"user": user, "role": role}), fields)


@admin_command(orgs, "remove-member")
@click.argument("org")
@click.argument("user")
def orgs_remove_member(api: Api, org: str, user: str) -> None:
    """Remove USER from ORG."""
    emit(api, api.call("DELETE", path("orgs", org, "members", user)), fields)


# --- keys --------------------------------------------------------------------------------------------
KEY_COLUMNS: list[Column] = [("ID", "id"), ("NAME", "name"), ("OWNER", lambda k: k.get("user") or k.get("org")),
                             ("STATUS", "status"), ("MODELS", lambda k: "any" if k["models"] is None else k["models"]),
                             ("EXPIRES", "expires_at"), ("CREATED", "created_at")]


@click.group()
def keys() -> None:
    """API keys: what each may reach, its limits and budget."""


@admin_command(keys, "list")
@click.option("--user", help="Only this user's keys.")
@click.option("--org", help="Only this organisation's keys.")
@click.option("--revoked", is_flag=True, help="Revoked keys too.")
def keys_list(api: Api, user: str | None, org: str | None, revoked: bool) -> None:
    """List keys, newest first."""
    query = {k: v for k, v in (("user", user), ("org", org), ("revoked", "true" if revoked else None)) if v}
    emit(api, api.call("GET", path("keys"), query=query), listing(KEY_COLUMNS))


def expiry(value: str) -> str:
    """A date alone (2027-01-31) is that day's start, UTC."""
    return f"{value}T00:00:00Z" if len(value) == 10 and value[4] == "-" else value


def key_options(lists: str) -> Decorator:
    """The settings `keys create` and `keys set` share: --model, --provider and --surface (repeatable;
    `lists` ends their help), --budget with --period, --expires. The command gets those given as
    `settings`, a dict as the API names them."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def collect(*args: Any, models: tuple[str, ...], providers: tuple[str, ...], surfaces: tuple[str, ...],
                    budget: float | None, period: str | None, expires: str | None, **kw: Any) -> Any:
            if period is not None and budget is None:
                raise click.UsageError("--period is the period of a --budget")
            settings = {"models": list(models), "providers": list(providers), "surfaces": list(surfaces),
                        "budget": None if budget is None else {"usd": budget, **({"period": period} if period else {})},
                        "expires_at": expiry(expires) if expires else None}
            return fn(*args, settings={k: v for k, v in settings.items() if v}, **kw)

        options = [
            click.option("--model", "models", multiple=True, help="A model it may reach (pattern: meta-llama/*); "
                         f"repeatable.{lists}"),
            click.option("--provider", "providers", multiple=True, help=f"A provider it may use; repeatable.{lists}"),
            click.option("--surface", "surfaces", multiple=True,
                         help=f"An API surface it may use (chat, ...); repeatable.{lists}"),
            click.option("--budget", type=click.FloatRange(min=0), help="Dollars it may spend per --period."),
            click.option("--period", type=PERIODS, help="The budget's period (default: month; for keys set, the "
                         "period the key's budget has)."),
            click.option("--expires", help="When it stops working: an ISO date-time, or a date (UTC)."),
        ]
        for option in reversed(options):
            collect = option(collect)
        return collect

    return add


@admin_command(keys, "create")
@account_options
@click.option("--name", default="", help="A name to know it by.")
@key_options("")
@limit_options(POSITIVE)
@click.option("--bill-to", help="An organisation (the owner a member of it) that pays for it.")
def keys_create(api: Api, user: str | None, org: str | None, name: str, settings: dict[str, Any],
                limits: dict[str, int], bill_to: str | None) -> None:
    """Create a key for a user or an organisation; its secret is printed this once."""
    body = {**account(user, org), "name": name, **settings, "limits": limits, "bill_to": bill_to}
    given = {k: v for k, v in body.items() if v}  # what is not given: the API's defaults
    emit(api, api.call("POST", path("keys"), given), with_secret)


#: what `keys set --clear` removes, and the field of the API's that says so
CLEARABLE = {"models": "models", "providers": "providers", "surfaces": "surfaces", "budget": "budget",
             "expiry": "expires_at"}


@admin_command(keys, "set")
@click.argument("key_id", metavar="ID")
@click.option("--name", help="A new name to know it by.")
@key_options(" The ones given replace its list.")
@changed_limit_options
@click.option("--block/--unblock", "blocked", default=None, help="Block it (until unblocked), or unblock it.")
@click.option("--clear", "cleared", multiple=True, type=click.Choice(sorted(CLEARABLE)),
              help="Remove a restriction (any model, provider or surface again), the budget or the expiry; "
                   "repeatable.")
def keys_set(api: Api, key_id: str, name: str | None, settings: dict[str, Any], limits: dict[str, int | str],
             blocked: bool | None, cleared: tuple[str, ...]) -> None:
    """Change a key's settings: those given; the others stay as they are. Its secret is not shown."""
    body = {**settings, "name": name, "blocked": blocked, "limits": limit_changes(limits) if limits else None}
    given = {k: v for k, v in body.items() if v is not None}  # what is not given: kept as it is
    for what in cleared:
        if CLEARABLE[what] in given:
            raise click.UsageError(f"--clear {what} and a new {what} at once: give one")
        given[CLEARABLE[what]] = None  # (null: removed)
    if not given:
        raise click.UsageError("give what to change: --name, --rpm, --tpm, --concurrency, --budget, --model, "
                               "--provider, --surface, --expires, --block, --unblock or --clear")
    emit(api, api.call("PATCH", path("keys", key_id), given), key_text)


on_one(keys, "show", "GET", "keys", "ID", "A key's settings (never its secret).", key_text)
on_one(keys, "revoke", "DELETE", "keys", "ID", "Revoke a key: it stops working for good.", key_text)
on_one(keys, "rotate", "POST", "keys", "ID", "A new secret for a key (same settings); the old one stops working.",
       with_secret, then="rotate")
on_one(keys, "block", "PATCH", "keys", "ID", "Block a key until it is unblocked.", key_text, body={"blocked": True})
on_one(keys, "unblock", "PATCH", "keys", "ID", "Unblock a key.", key_text, body={"blocked": False})


# --- credits and budgets -----------------------------------------------------------------------------
@click.group()
def credits() -> None:
    """Prepaid credits of users and organisations (billing.credits)."""


def credits_text(answer: dict[str, Any]) -> str:
    grants = table(answer.get("history") or [], [("AT", "at"), ("USD", "usd"), ("NOTE", "note"), ("BY", "by")])
    return f"{fields(answer, skip=('history',))}\n\ngrants:\n{grants}"


@admin_command(credits, "show")
@account_options
def credits_show(api: Api, user: str | None, org: str | None) -> None:
    """An account's credits left and its grants."""
    emit(api, api.call("GET", path("credits"), query=account(user, org)), credits_text)


@admin_command(credits, "grant", context_settings={"ignore_unknown_options": True})
@account_options
@click.argument("usd", type=float)
@click.option("--note", default="", help="Why (kept with the grant).")
def credits_grant(api: Api, user: str | None, org: str | None, usd: float, note: str) -> None:
    """Grant USD dollars of credits (a negative amount deducts)."""
    emit(api, api.call("POST", path("credits"), {**account(user, org), "usd": usd, "note": note}), fields)


@click.group()
def budgets() -> None:
    """Spending limits of users and organisations, per day, week, month or in total."""


@admin_command(budgets, "list")
@account_options
def budgets_list(api: Api, user: str | None, org: str | None) -> None:
    """An account's budgets."""
    columns: list[Column] = [("PERIOD", "period"), ("USD", "usd"), ("INCLUDE_BYOK", "include_byok")]
    emit(api, api.call("GET", path("budgets"), query=account(user, org)), listing(columns))


@admin_command(budgets, "set")
@account_options
@click.argument("usd", type=click.FloatRange(min=0))
@click.option("--period", type=PERIODS, default="month", show_default=True)
def budgets_set(api: Api, user: str | None, org: str | None, usd: float, period: str) -> None:
    """Set (or replace) an account's budget for a period."""
    emit(api, api.call("PUT", path("budgets"), {**account(user, org), "usd": usd, "period": period}), fields)


@admin_command(budgets, "delete")
@account_options
@click.option("--period", type=PERIODS, default="month", show_default=True)
def budgets_delete(api: Api, user: str | None, org: str | None, period: str) -> None:
    """Remove an account's budget for a period."""
    emit(api, api.call("DELETE", path("budgets"), query={**account(user, org), "period": period}), fields)


# --- usage -------------------------------------------------------------------------------------------
SUMS: list[Column] = [("REQUESTS", "requests"), ("ERRORS", "errors"), ("IN", "input_tokens"),
                      ("OUT", "output_tokens"), ("COST_USD", "cost_usd")]
ROWS: list[Column] = [("AT", "created_at"), ("KEY", "key_id"), ("USER", "user"), ("MODEL", "model"),
                      ("PROVIDER", "provider"), ("STATUS", "status"), ("IN", "input_tokens"),
                      ("OUT", "output_tokens"), ("COST_USD", "cost_usd")]


@admin_command(None, "usage")
@click.option("--group-by", default="", help="Totals per day, model, provider, user, org, key, surface, task, "
              "status (several: day,model). Without it: the requests themselves, newest first.")
@click.option("--from", "start", help="From this date (2026-12-01) or ISO date-time.")
@click.option("--to", "end", help="To this date (included) or ISO date-time (excluded).")
@click.option("--user", help="Only this user's requests.")
@click.option("--org", help="Only this organisation's requests.")
@click.option("--key-id", help="Only this key's requests (its id).")
@click.option("--limit", type=click.IntRange(min=1), help="Rows at most (the API's default: 1000).")
@click.option("--csv", "as_csv", is_flag=True, help="Print the API's CSV.")
def usage(api: Api, group_by: str, start: str | None, end: str | None, user: str | None, org: str | None,
          key_id: str | None, limit: int | None, as_csv: bool) -> None:
    """What the usage ledger says: totals per group, or the requests."""
    if as_csv and api.as_json:
        raise click.UsageError("--csv or --json, not both")
    given = {"group_by": group_by, "from": start, "to": end, "user": user, "org": org, "key": key_id,
             "limit": str(limit) if limit else None, "format": "csv" if as_csv else None}
    query = {k: v for k, v in given.items() if v}
    if as_csv:
        click.echo(api.text(path("usage"), query), nl=False)
        return
    groups = [g.strip() for g in group_by.split(",") if g.strip()]
    columns = [(g.upper(), g) for g in groups] + SUMS if groups else ROWS
    emit(api, api.call("GET", path("usage"), query=query), listing(columns))


GROUPS: list[click.Command] = [users, orgs, keys, credits, budgets, usage]
