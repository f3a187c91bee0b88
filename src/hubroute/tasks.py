"""Running any task on the best provider: validate the request, load its binary inputs, plan the
candidates, run the provider exchange with failover, check what came back. Shared by the server's
task routes and the client's direct mode.

    load_call(task, raw, fetcher)      a decoded JSON request -> TaskCall (InvalidRequest names the field)
    binary_call(task, body)            a binary input sent alone as the request body -> TaskCall
    run(router, plan, call)            -> TaskAnswer: `outcome` is Done(JSON), Done(Media) or a MediaStream
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from hubroute.errors import InvalidRequest, NotSupported, ProviderResponseError
from hubroute.inputs import Binary, load_binary
from hubroute.inputs.decode import check_size
from hubroute.inputs.spool import Blob, SpooledBody
from hubroute.providers import Target
from hubroute.providers.steps import Done, Media, Next, TaskCall
from hubroute.routing.jobs import MediaStream, Outcome
from hubroute.task_names import CONVERSATIONAL

if TYPE_CHECKING:
    from hubroute.inputs import Fetcher
    from hubroute.routing.router import Plan, Router, TaskAnswer


def spec(task: str) -> Any:
    from hubroute import types  # the task types load on first use, not at start-up

    return types.get_spec(task)


async def load_call(task: str, raw: dict[str, Any], fetcher: Fetcher) -> TaskCall:
    """Validate a JSON task request and load its binary fields (base64, data: URI or URL)."""
    from hubroute import types

    s = spec(task)
    if s.task == CONVERSATIONAL:  # OpenAI's chat body, at its own route: the task API has no form of it
        raise NotSupported(f"Task '{s.task}' is served at {s.openai_route}, not by the task API", param="task")
    parsed = types.parse_input(s.task, raw)
    plain = msgspec.to_builtins(parsed) if isinstance(parsed, msgspec.Struct) else parsed
    # binary fields are loaded from the value they came with (to_builtins would base64 raw bytes)
    source = raw if s.normalize is None else s.normalize(raw)
    for path in s.binary_fields:
        value = _get(source, path)
        if value is not None:
            _set(plain, path, await load_binary(value, field=path, fetcher=fetcher))
    parameters = plain.pop("parameters", None) or {}
    inputs = plain.pop("inputs", None)
    return TaskCall(s.task, inputs, parameters, fields=plain)


def binary_call(task: str, body: Blob, max_bytes: int) -> TaskCall:
    """A binary input sent alone as the request body, as HF's clients send an image or audio."""
    s = spec(task)
    if not s.binary_input:
        raise InvalidRequest(f"Task '{s.task}' takes a JSON body with 'inputs', not a binary body",
                             param="inputs")
    if s.binary_fields != ("inputs",):
        raise InvalidRequest(f"Task '{s.task}' needs more than an image: send JSON with "
                             f"{', '.join(s.binary_fields)}", param="inputs")
    if isinstance(body, SpooledBody):
        if body.size == 0:
            raise InvalidRequest("'inputs': is empty", param="inputs")
        if body.size > max_bytes:
            raise InvalidRequest(f"'inputs': is too large (more than {max_bytes} bytes)", param="inputs")
    else:
        check_size(body.data, "inputs", max_bytes)
    return TaskCall(s.task, body, {})


def check_outcome(task: str) -> Any:
    """The check `Router.run_task` applies: media where the task answers media, else the task's
    JSON output shape (the provider's answer is relayed as it came once it is known to be valid)."""
    from hubroute import types

    s = spec(task)

    def check(target: Target, outcome: Outcome) -> Outcome:
        if s.binary_output:
            if isinstance(outcome, MediaStream) or isinstance(outcome.value, Media):
                return outcome
            raise ProviderResponseError(f"{target.name} answered {s.task} without the {s.binary_output} it "
                                        "should return", provider=target.name, status_code=200)
        if isinstance(outcome, MediaStream):
            raise ProviderResponseError(f"{target.name} answered {s.task} with '{outcome.content_type}', "
                                        "not JSON", provider=target.name, status_code=200)
        types.parse_output(s.task, outcome.value, provider=target.name)
        return outcome

    return check


async def run(router: Router, plan: Plan, call: TaskCall) -> TaskAnswer:
    """Run `call` on the plan's candidates, with failover (`router.plan(name, call.task)` first)."""

    def start(target: Target) -> Next:
        return target.provider.start_task(call, target)

    return await router.run_task(plan, start, check_outcome(call.task))


def _get(obj: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        obj = obj[key]
    obj[last] = value


__all__ = ["Binary", "Done", "Media", "MediaStream", "TaskCall", "binary_call", "check_outcome", "load_call", "run"]
