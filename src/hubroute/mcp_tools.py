"""Remote MCP tools in OpenAI's Responses API (`{"type": "mcp", ...}` in `tools`): which servers a
request may name, and the items that say what the router listed and ran. Pure: no I/O (the route's
side, `server/routes/responses_mcp.py`, connects, lists and calls).

    servers = servers_of(body, allowed_hosts, rules)   # the request's MCP servers, checked (400s)
    entry = tool_entry(tool)                           # an MCP tool as `mcp_list_tools` lists it
    item = listing_item(label, entries, error)         # an `mcp_list_tools` output item
    text = format_result(result)                       # a tool's result as the model reads it
    text = result_text(item)                           # an `mcp_call` item's output or error, as the model reads it

What a request may name (`servers_of`):

- `server_url`, whose host is in `responses.mcp_allowed_hosts` (an entry is a host name or an
  address, matched exactly, or `*.example.com` for the names under a domain; nothing listed: MCP
  tools are refused). The URL is `https`; plain `http` only to a host listed as `http://<host>`.
  Its address obeys the `inputs:` address rules too (`inputs.allow_private`, `inputs.allowed_hosts`:
  no loopback, private or link-local address otherwise), checked here for an address in the URL and,
  for a name, on every connection to what it resolves to.
- `require_approval: "never"`, sent explicitly: the router has no approval flow, and OpenAI's default
  (omitted) asks for approval before every call, so an omitted `require_approval`, `"always"` or an
  object is refused rather than taken to allow calls the client did not allow.
- `allowed_tools`: the names of the server's tools to offer, as a list or `{"tool_names": [...]}`
  (`"read_only": true` keeps only the tools the server marks read-only); omitted, all of them.
- `headers` (and `authorization`, sent as a bearer token): sent to that server only, never echoed
  in a response, stored or logged (`public_tools`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from hubroute.errors import InvalidRequest

if TYPE_CHECKING:
    from hubroute.inputs.fetch import AddressRules

#: what a client's `mcp` tool may not take back in a response: its credentials
SECRET_FIELDS = ("headers", "authorization")
#: headers a request may not set for a server: the HTTP client's and the MCP transport's own
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te",
                          "trailer", "proxy-authorization", "proxy-connection", "content-type", "accept",
                          "mcp-session-id", "mcp-protocol-version", "last-event-id"})


class McpServer:
    """One `mcp` tool of a request: a remote MCP server, checked. (A plain class: importing this
    module, which the client does, stays cheap.)"""

    __slots__ = ("headers", "label", "names", "read_only", "url", "where")

    def __init__(self, label: str, url: str, where: str, headers: dict[str, str] | None = None,
                 names: frozenset[str] | None = None, read_only: bool = False) -> None:
        self.label = label
        self.url = url
        #: where the request names it (`tools.<i>`), for errors
        self.where = where
        #: sent to this server only (never echoed, stored or logged)
        self.headers = headers or {}
        #: the names of the tools to offer (None: every tool)
        self.names = names
        #: offer only the tools the server marks read-only
        self.read_only = read_only

    def __repr__(self) -> str:  # (no headers: they may hold a credential)
        return f"McpServer({self.label!r}, {self.url!r})"

    def offers(self, tool: Any) -> bool:
        """Whether the server's `tool` (the SDK's Tool) is offered to the model."""
        if self.names is not None and tool.name not in self.names:
            return False
        return not self.read_only or bool(getattr(tool.annotations, "read_only_hint", False))


def servers_of(body: dict[str, Any], allowed_hosts: list[str], rules: AddressRules) -> list[McpServer]:
    """The request's MCP servers, each checked against the router's rules (InvalidRequest, naming the
    field, for the first that may not be reached); [] when it names none."""
    servers: list[McpServer] = []
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("type") != "mcp":
            continue
        where = f"tools.{i}"
        if not allowed_hosts:
            raise InvalidRequest(f"{where}: MCP tools are not enabled on this router (its operator names the hosts "
                                 "of the MCP servers it may reach in responses.mcp_allowed_hosts)", param=where)
        label = tool.get("server_label")
        if not isinstance(label, str) or not label:
            raise InvalidRequest(f"{where}.server_label: a name for the server is required", param=where)
        if any(server.label == label for server in servers):
            raise InvalidRequest(f"{where}.server_label: {label!r} names two MCP servers", param=where)
        if tool.get("connector_id") is not None:
            raise InvalidRequest(f"{where}.connector_id: connectors are OpenAI's own; give the server_url of an "
                                 "MCP server", param=where)
        approval = tool.get("require_approval")
        if approval != "never":
            said = "omitted, it means approval before every call" if approval is None else f"got {approval!r}"
            raise InvalidRequest(f"{where}.require_approval: only 'never' is supported ({said}): this router runs "
                                 "MCP tools itself and has no approval flow; send require_approval: 'never'",
                                 param=where)
        url = tool.get("server_url")
        if not isinstance(url, str) or not url:
            raise InvalidRequest(f"{where}.server_url: the URL of a remote MCP server is required", param=where)
        try:
            _check_url(url, allowed_hosts, rules)
        except InvalidRequest as exc:
            raise InvalidRequest(f"{where}.server_url: {exc.message}", param=where) from None
        names, read_only = _allowed(tool.get("allowed_tools"), where)
        servers.append(McpServer(label, url, where, _headers(tool, where), names, read_only))
    return servers


def _check_url(url: str, allowed_hosts: list[str], rules: AddressRules) -> None:
    from yarl import URL

    from hubroute.inputs.fetch import Refused

    try:
        parsed = URL(url)
        host = (parsed.raw_host or "").rstrip(".").lower()
    except (TypeError, ValueError):
        raise InvalidRequest("not a valid URL") from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidRequest("an https:// URL is required")
    listed = [entry for entry in allowed_hosts if _matches(entry, host)]
    if not listed:
        raise InvalidRequest(f"the host {host[:100]!r} is not in responses.mcp_allowed_hosts (the hosts of the MCP "
                             "servers this router may reach)")
    if scheme == "http" and not any(entry.strip().lower().startswith("http://") for entry in listed):
        raise InvalidRequest(f"MCP servers are reached over https (http only to a host listed as "
                             f"'http://{host[:100]}' in responses.mcp_allowed_hosts)")
    try:
        rules.check(url)
    except Refused as exc:
        raise InvalidRequest(f"{exc} (inputs.allow_private and inputs.allowed_hosts permit internal "
                             "addresses)") from None


def _matches(entry: str, host: str) -> bool:
    """Whether an entry of responses.mcp_allowed_hosts (`name`, `*.domain`, `http://name`) names `host`."""
    from yarl import URL

    entry = entry.strip().lower()
    if "://" in entry:
        entry = (URL(entry).raw_host or "") if entry.startswith(("http://", "https://")) else ""
    entry = entry.rstrip(".")
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return bool(entry) and host == entry


def _allowed(given: Any, where: str) -> tuple[frozenset[str] | None, bool]:
    if given is None:
        return None, False
    read_only = False
    if isinstance(given, dict):
        read_only = given.get("read_only") is True
        given = given.get("tool_names")
        if given is None:
            return None, read_only
    if not isinstance(given, list) or not all(isinstance(name, str) for name in given):
        raise InvalidRequest(f"{where}.allowed_tools: a list of tool names, or {{'tool_names': [...]}}", param=where)
    return frozenset(given), read_only


def _headers(tool: dict[str, Any], where: str) -> dict[str, str]:
    headers = tool.get("headers")
    if headers is None:
        headers = {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in headers.items()):
        raise InvalidRequest(f"{where}.headers: an object of header names to string values", param=where)
    own = sorted(name for name in headers if name.lower() in _OWN_HEADERS)
    if own:
        raise InvalidRequest(f"{where}.headers: {own[0]!r} is the router's to set, not the request's", param=where)
    token = tool.get("authorization")
    if token is not None:
        if not isinstance(token, str):
            raise InvalidRequest(f"{where}.authorization: a string (an access token)", param=where)
        if not any(name.lower() == "authorization" for name in headers):
            headers = {**headers, "Authorization": f"Bearer {token}"}
    return dict(headers)


def public_tools(tools: Any) -> Any:
    """The request's `tools` as a response repeats them: an `mcp` tool without its credentials."""
    if not isinstance(tools, list) or not any(isinstance(t, dict) and t.get("type") == "mcp" for t in tools):
        return tools
    return [{k: v for k, v in t.items() if k not in SECRET_FIELDS} if isinstance(t, dict) and t.get("type") == "mcp"
            else t for t in tools]


# --- items ------------------------------------------------------------------------------------------
def tool_entry(tool: Any) -> dict[str, Any]:
    """An MCP tool (the SDK's Tool) as an `mcp_list_tools` item lists it."""
    entry: dict[str, Any] = {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}
    if tool.annotations is not None:
        entry["annotations"] = tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
    return entry


def listing_item(label: str, entries: list[dict[str, Any]], error: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f"mcpl_{os.urandom(16).hex()}", "type": "mcp_list_tools", "server_label": label,
                            "tools": entries}
    if error is not None:
        item["error"] = error
    return item


def protocol_error(code: int, message: str) -> dict[str, Any]:
    """An `mcp_call`'s error: the server (or the call itself) broke the protocol (a JSON-RPC error)."""
    return {"type": "mcp_protocol_error", "code": code, "message": message}


def http_error(code: int, message: str) -> dict[str, Any]:
    """An `mcp_call`'s error: the server could not be reached, or answered an HTTP error (502: no
    connection; 504: no answer in time; else the server's status)."""
    return {"type": "http_error", "code": code, "message": message}


def execution_error(content: list[dict[str, Any]]) -> dict[str, Any]:
    """An `mcp_call`'s error: the tool ran and reported a failure (its result's content)."""
    return {"type": "mcp_tool_execution_error", "content": content}


def result_text(item: dict[str, Any]) -> str:
    """What the model reads of an `mcp_call` item: its output, else what went wrong."""
    if isinstance(item.get("output"), str):
        return str(item["output"])
    error = item.get("error")
    if isinstance(error, dict) and isinstance(error.get("content"), list):
        text = "\n".join(str(part.get("text", "")) if isinstance(part, dict) and part.get("type") == "text"
                         else f"[{part.get('type') if isinstance(part, dict) else 'unknown'} content]"
                         for part in error["content"])
        return f"Error: {text}"
    if isinstance(error, dict) and error.get("message"):
        return f"Error: {error['message']}"
    if isinstance(error, str) and error:
        return f"Error: {error}"
    return "Error: the tool was not run"


def _base64_size(data: str) -> int:
    """The byte size of base64 data (a data: URI's payload too)."""
    data = data.partition(",")[2] if "," in data else data
    padding = 2 if data.endswith("==") else 1 if data.endswith("=") else 0
    return len(data) * 3 // 4 - padding


def format_result(result: Any) -> str:
    """A tool's result (the SDK's CallToolResult) as the text the model reads: text as is, binary
    content described (as huggingface_hub and huggingface.js format it)."""
    if not result.content:
        return "[No content]"
    done = "The task is complete and the content accessible to the User"
    parts: list[str] = []
    for item in result.content:
        if item.type == "text":
            parts.append(item.text)
        elif item.type in ("image", "audio"):
            kind = "Image" if item.type == "image" else "Audio"
            parts.append(f"[Binary Content: {kind} {item.mime_type}, {_base64_size(item.data)} bytes]\n{done}")
        elif item.type == "resource":
            resource = item.resource
            text, blob = getattr(resource, "text", None), getattr(resource, "blob", None)
            if isinstance(text, str):
                parts.append(text)
            elif isinstance(blob, str):
                parts.append(f"[Binary Content ({resource.uri}): {resource.mime_type}, {_base64_size(blob)} bytes]\n"
                             f"{done}")
        elif item.type == "resource_link":
            parts.append(f"[Resource link: {item.uri}]")
    return "\n".join(parts)
