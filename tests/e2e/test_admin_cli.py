"""`hubroute users|orgs|keys|credits|budgets|usage` as an administrator runs them: the real `hubroute`
executable as a subprocess, against a real router serving in the test's event loop (so the subprocess is
awaited with asyncio, never waited for with a blocking call). Every run is checked for a traceback and for
the master key in its output."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.conftest import Mocks, RouterFactory, RunningRouter
from tests.e2e.serving import HUBROUTE, clean_env
from tests.e2e.support import MODEL, assert_error, chat, config
from tests.ports import free_port, listening_socket

MASTER = "sk-hubroute-master-key-cli-7"
ADMIN = {"authorization": f"Bearer {MASTER}"}
PRICES = {"a": {"input": 1000.0, "output": 2000.0}}  # the mock's 7 tokens in, 5 out: $0.017
SECRET = re.compile(r"^\s+(hf_hr_\S+)$", re.MULTILINE)


@dataclass
class Ran:
    code: int
    out: str
    err: str


def env(**extra: str) -> dict[str, str]:
    """A clean environment: no HUBROUTE_URL / HUBROUTE_KEY of the caller's either."""
    found = clean_env(**extra)
    for name in ("HUBROUTE_URL", "HUBROUTE_KEY"):
        if name not in extra:
            found.pop(name, None)
    return found


async def hubroute(*args: str, r: RunningRouter | None = None, key: str | None = MASTER,
                   environ: dict[str, str] | None = None) -> Ran:
    """`hubroute ARGS [--url r.url] [--key key]`; never a traceback, never the master key in its output."""
    argv = [*HUBROUTE, *args, *(["--url", r.url] if r is not None else []), *(["--key", key] if key else [])]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                env=environ or env())
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    ran = Ran(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())
    assert "Traceback" not in ran.err, ran.err
    assert MASTER not in ran.out + ran.err and (key is None or key not in ran.out + ran.err), ran
    return ran


async def ok(*args: str, r: RunningRouter) -> str:
    ran = await hubroute(*args, r=r)
    assert ran.code == 0, ran
    return ran.out


async def ok_json(*args: str, r: RunningRouter) -> Any:
    return json.loads(await ok(*args, "--json", r=r))


def failed(ran: Ran) -> str:
    """A failure: exit 1, nothing on stdout, one `hubroute: ...` line on stderr (returned)."""
    assert ran.code == 1 and ran.out == "", ran
    lines = ran.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hubroute: "), ran.err
    return lines[0]


def fields(out: str) -> dict[str, str]:
    """`field: value` lines as a dict."""
    return {k.strip(): v.strip() for k, _, v in (line.partition(": ") for line in out.splitlines()) if _}


def table(out: str) -> list[dict[str, str]]:
    """An aligned table's rows: its columns are where some line has text, between gaps of two or more
    spaces in every line (so a misaligned table does not parse into its headings)."""
    lines = out.rstrip("\n").splitlines()
    width = max(len(line) for line in lines)
    lines = [line.ljust(width) for line in lines]
    filled = [any(line[i] != " " for line in lines) for i in range(width)]
    spans = [(m.start(), m.end()) for m in re.finditer(r"1+(?:01+)*", "".join("1" if f else "0" for f in filled))]
    heading, *rows = [[line[a:b].strip() for a, b in spans] for line in lines]
    assert len(heading) == len(out.splitlines()[0].split()), out
    return [dict(zip(heading, row, strict=True)) for row in rows]


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


async def started(mocks: Mocks, router: RouterFactory, **sections: Any) -> RunningRouter:
    a = await mocks.start("a")
    return await router.start(config(a, pricing=PRICES, server={"master_key": MASTER}, **sections))


async def new_key(r: RunningRouter, *args: str) -> tuple[str, str]:
    """`keys create ARGS`: the key's id and its secret, printed once, prominently."""
    out = await ok("keys", "create", *args, r=r)
    assert "shown only this once" in out, out
    secrets = SECRET.findall(out)
    assert len(secrets) == 1, out
    return fields(out)["id"], secrets[0]


# --- users, organisations, keys --------------------------------------------------------------------
async def test_users_orgs_and_members(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    made = fields(await ok("users", "create", "ada", r=r))
    assert made["name"] == "ada" and made["admin"] == "no" and made["blocked"] == "no"
    assert fields(await ok("users", "create", "root", "--admin", r=r))["admin"] == "yes"
    assert (await ok_json("users", "show", "ada", r=r))["id"] == made["id"]
    rows = table(await ok("users", "list", r=r))
    assert [(u["NAME"], u["ADMIN"]) for u in sorted(rows, key=lambda u: u["NAME"])] == [("ada", "no"), ("root", "yes")]

    assert fields(await ok("orgs", "create", "acme", r=r))["name"] == "acme"
    member = fields(await ok("orgs", "add-member", "acme", "ada", "--role", "admin", r=r))
    assert member == {"org": "acme", "user": "ada", "role": "admin"}
    await ok("orgs", "add-member", "acme", "root", r=r)
    shown = await ok("orgs", "show", "acme", r=r)
    assert fields(shown)["name"] == "acme"
    members = table(shown.split("members:\n", 1)[1])
    assert [(m["USER"], m["ROLE"]) for m in members] == [("ada", "admin"), ("root", "member")]
    assert [m["user"] for m in (await ok_json("orgs", "show", "acme", r=r))["members"]] == ["ada", "root"]
    await ok("orgs", "remove-member", "acme", "root", r=r)
    assert [m["user"] for m in (await ok_json("orgs", "show", "acme", r=r))["members"]] == ["ada"]
    assert [o["NAME"] for o in table(await ok("orgs", "list", r=r))] == ["acme"]

    assert fields(await ok("users", "block", "ada", r=r))["blocked"] == "yes"
    assert (await ok_json("users", "show", "ada", r=r))["blocked"] is True
    assert fields(await ok("users", "unblock", "ada", r=r))["blocked"] == "no"
    assert fields(await ok("users", "delete", "root", r=r))["deleted"] == "yes"
    assert fields(await ok("orgs", "delete", "acme", r=r))["deleted"] == "yes"
    assert await ok("orgs", "list", r=r) == "(none)\n"
    assert [u["name"] for u in (await ok_json("users", "list", r=r))["data"]] == ["ada"]


async def test_a_key_made_with_the_cli_works_until_revoked(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    await ok("orgs", "create", "acme", r=r)
    await ok("orgs", "add-member", "acme", "ada", r=r)
    key_id, secret = await new_key(r, "--user", "ada", "--name", "laptop", "--model", "acme/*", "--model", "x/y",
                                   "--surface", "chat", "--rpm", "60", "--concurrency", "3", "--budget", "50",
                                   "--period", "day", "--bill-to", "acme", "--expires", "2099-01-31")
    assert secret.startswith(f"hf_hr_{key_id}_")
    assert (await chat(r, headers=bearer(secret))).status_code == 200

    shown = await ok_json("keys", "show", key_id, r=r)
    assert shown["models"] == ["acme/*", "x/y"] and shown["surfaces"] == ["chat"] and shown["bill_to"] == "acme"
    assert shown["limits"] == {"rpm": 60, "tpm": None, "concurrency": 3}
    assert shown["budget"] == {"usd": 50.0, "period": "day"}
    assert shown["expires_at"].startswith("2099-01-31T00:00:00") and "key" not in shown
    assert secret not in await ok("keys", "show", key_id, r=r)

    listed = await ok("keys", "list", r=r)
    assert secret not in listed
    [row] = table(listed)
    assert (row["ID"], row["NAME"], row["OWNER"], row["STATUS"]) == (key_id, "laptop", "ada", "active")
    as_json = await ok("keys", "list", "--json", r=r)
    assert as_json.startswith("{\n  ") and [k["id"] for k in json.loads(as_json)["data"]] == [key_id]
    assert table(await ok("keys", "list", "--user", "ada", r=r))[0]["ID"] == key_id
    assert await ok("keys", "list", "--org", "acme", r=r) == "(none)\n"

    assert fields(await ok("keys", "block", key_id, r=r))["status"] == "blocked"
    assert (await chat(r, headers=bearer(secret))).status_code == 403
    assert fields(await ok("keys", "unblock", key_id, r=r))["status"] == "active"
    assert (await chat(r, headers=bearer(secret))).status_code == 200

    assert fields(await ok("keys", "revoke", key_id, r=r))["status"] == "revoked"
    assert (await chat(r, headers=bearer(secret))).status_code == 401
    assert await ok("keys", "list", r=r) == "(none)\n"
    assert table(await ok("keys", "list", "--revoked", r=r))[0]["STATUS"] == "revoked"


async def test_rotating_a_key_prints_its_new_secret_once(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("orgs", "create", "acme", r=r)
    key_id, old = await new_key(r, "--org", "acme")
    out = await ok("keys", "rotate", key_id, r=r)
    assert "shown only this once" in out and fields(out)["id"] == key_id
    assert (fields(out)["org"], fields(out)["models"]) == ("acme", "any")  # no list of models: any
    assert table(await ok("keys", "list", r=r))[0]["MODELS"] == "any"
    [new] = SECRET.findall(out)
    assert new != old
    assert (await chat(r, headers=bearer(old))).status_code == 401
    assert (await chat(r, headers=bearer(new))).status_code == 200
    rotated = await ok_json("keys", "rotate", key_id, r=r)
    assert rotated["id"] == key_id and rotated["key"].startswith(f"hf_hr_{key_id}_")


async def test_keys_set_changes_what_it_is_given_and_keeps_the_rest(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    key_id, secret = await new_key(r, "--user", "ada", "--name", "laptop", "--model", "acme/*", "--rpm", "60",
                                   "--tpm", "1000", "--budget", "50", "--period", "day")
    out = await ok("keys", "set", key_id, "--name", "desk", "--tpm", "2000", "--concurrency", "3", r=r)
    shown = fields(out)
    assert (shown["id"], shown["name"], shown["status"]) == (key_id, "desk", "active")
    assert (shown["limits"], shown["models"], shown["budget"]) == ("rpm=60, tpm=2000, concurrency=3", "acme/*",
                                                                   "usd=50, period=day")
    assert "key" not in shown and secret not in out and "shown only this once" not in out

    # none removes a limit, the others stay; --json: the API's answer, as `keys show --json` has it
    changed = await ok_json("keys", "set", key_id, "--tpm", "NONE", r=r)
    assert changed["limits"] == {"rpm": 60, "tpm": None, "concurrency": 3} and changed["name"] == "desk"
    assert "key" not in changed
    assert (await ok_json("keys", "show", key_id, r=r))["limits"] == changed["limits"]

    budget = await ok_json("keys", "set", key_id, "--budget", "5.5", "--period", "week", r=r)
    assert budget["budget"] == {"usd": 5.5, "period": "week"} and budget["limits"] == changed["limits"]
    # a new amount alone keeps the period
    assert fields(await ok("keys", "set", key_id, "--budget", "7", r=r))["budget"] == "usd=7, period=week"

    # repeated --model, --provider, --surface replace the lists
    lists = await ok_json("keys", "set", key_id, "--model", "x/y", "--model", "z/*", "--surface", "chat",
                          "--provider", "a", "--expires", "2099-02-01", r=r)
    assert (lists["models"], lists["providers"], lists["surfaces"]) == (["x/y", "z/*"], ["a"], ["chat"])
    assert lists["expires_at"].startswith("2099-02-01T00:00:00")
    assert (lists["name"], lists["budget"], lists["limits"]) == ("desk", {"usd": 7.0, "period": "week"},
                                                                 changed["limits"])
    assert await ok_json("keys", "show", key_id, r=r) == lists

    # --clear: any model, provider and surface again, no budget, no expiry
    freed = await ok_json("keys", "set", key_id, "--clear", "models", "--clear", "providers", "--clear", "surfaces",
                          "--clear", "budget", "--clear", "expiry", r=r)
    assert (freed["models"], freed["providers"], freed["surfaces"], freed["budget"], freed["expires_at"]) == (
        None, None, None, None, None)
    assert (freed["name"], freed["limits"]) == ("desk", changed["limits"])


async def test_a_key_blocked_and_limited_with_keys_set(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    key_id, secret = await new_key(r, "--user", "ada")
    assert (await chat(r, headers=bearer(secret))).status_code == 200
    blocked = fields(await ok("keys", "set", key_id, "--block", "--name", "stolen", r=r))
    assert (blocked["status"], blocked["blocked"], blocked["name"]) == ("blocked", "yes", "stolen")
    assert_error(await chat(r, headers=bearer(secret)), 403, "blocked_api_key")
    assert (await ok_json("keys", "set", key_id, "--unblock", r=r))["blocked"] is False
    assert (await chat(r, headers=bearer(secret))).status_code == 200

    await ok("keys", "set", key_id, "--rpm", "1", r=r)
    assert (await chat(r, headers=bearer(secret))).status_code == 200
    assert_error(await chat(r, headers=bearer(secret)), 429, "rate_limited")
    await ok("keys", "set", key_id, "--rpm", "none", r=r)
    assert (await chat(r, headers=bearer(secret))).status_code == 200


async def test_keys_set_refuses_bad_values_and_unknown_keys(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    key_id, _ = await new_key(r, "--user", "ada", "--name", "laptop", "--rpm", "10")
    before = await ok_json("keys", "show", key_id, r=r)
    assert failed(await hubroute("keys", "set", "nope", "--rpm", "5", r=r)) == "hubroute: no key nope"
    refused(await hubroute("keys", "set", key_id, r=r), "give what to change", "--rpm", "--block")
    for bad in ("0", "-3", "1.5", "unlimited"):
        refused(await hubroute("keys", "set", key_id, "--concurrency", bad, r=r),
                "'--concurrency'", "expected a whole number from 1, or none (no limit)")
    refused(await hubroute("keys", "set", key_id, "--budget", "-1", r=r), "'--budget'")
    refused(await hubroute("keys", "set", key_id, "--budget", "1", "--period", "year", r=r), "'--period'")
    refused(await hubroute("keys", "set", key_id, "--period", "day", r=r), "--period is the period of a --budget")
    refused(await hubroute("keys", "set", key_id, "--budget", "1", "--clear", "budget", r=r),
            "--clear budget and a new budget at once")
    refused(await hubroute("keys", "set", key_id, "--clear", "everything", r=r), "'--clear'")
    assert await ok_json("keys", "show", key_id, r=r) == before


def refused(ran: Ran, *expected: str) -> None:
    """A usage error: exit 2, nothing on stdout, click's message (holding each of `expected`) on stderr."""
    assert ran.code == 2 and ran.out == "", ran
    assert all(text in ran.err for text in expected), ran.err


async def test_rate_limits_of_users_and_orgs(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    made = fields(await ok("users", "create", "ada", "--rpm", "100", "--concurrency", "3", r=r))
    assert made["limits"] == "rpm=100, concurrency=3"
    await ok("users", "create", "bob", r=r)
    rows = {u["NAME"]: u for u in table(await ok("users", "list", r=r))}
    assert (rows["ada"]["LIMITS"], rows["bob"]["LIMITS"]) == ("rpm=100, concurrency=3", "-")
    listed = {u["name"]: u["limits"] for u in (await ok_json("users", "list", r=r))["data"]}
    assert listed["ada"] == {"rpm": 100, "tpm": None, "concurrency": 3}

    org = await ok_json("orgs", "create", "acme", "--tpm", "50000", r=r)
    assert org["limits"] == {"rpm": None, "tpm": 50000, "concurrency": None}
    assert [(o["NAME"], o["LIMITS"]) for o in table(await ok("orgs", "list", r=r))] == [("acme", "tpm=50000")]

    # set: those given change, the others stay; none removes one
    assert fields(await ok("users", "set", "ada", "--tpm", "9000", r=r))["limits"] == "rpm=100, tpm=9000, concurrency=3"
    changed = await ok_json("users", "set", "ada", "--rpm", "none", "--concurrency", "5", r=r)
    assert changed["limits"] == {"rpm": None, "tpm": 9000, "concurrency": 5}
    assert (await ok_json("users", "show", "ada", r=r))["limits"] == changed["limits"]
    assert fields(await ok("orgs", "set", "acme", "--rpm", "60", r=r))["limits"] == "rpm=60, tpm=50000"
    cleared = fields(await ok("orgs", "set", "acme", "--rpm", "NONE", "--tpm", "none", r=r))
    assert (cleared["name"], cleared["limits"]) == ("acme", "-")
    assert (await ok_json("orgs", "show", "acme", r=r))["limits"] == {"rpm": None, "tpm": None, "concurrency": None}


async def test_bad_rate_limits_are_refused(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    refused(await hubroute("users", "create", "ada", "--rpm", "0", r=r), "'--rpm'", "0 is not in the range x>=1")
    refused(await hubroute("orgs", "create", "acme", "--concurrency", "two", r=r), "'--concurrency'", "'two'")
    assert (await ok_json("users", "list", r=r))["data"] == [] and await ok("orgs", "list", r=r) == "(none)\n"
    await ok("users", "create", "ada", "--rpm", "10", r=r)
    for bad in ("0", "-3", "1.5", "unlimited"):
        refused(await hubroute("users", "set", "ada", "--tpm", bad, r=r),
                "'--tpm'", "expected a whole number from 1, or none (no limit)")
    refused(await hubroute("users", "set", "ada", r=r), "give --rpm, --tpm or --concurrency")
    assert failed(await hubroute("orgs", "set", "nowhere", "--rpm", "1", r=r)) == "hubroute: no organisation 'nowhere'"
    assert (await ok_json("users", "show", "ada", r=r))["limits"] == {"rpm": 10, "tpm": None, "concurrency": None}


async def test_a_users_limit_set_with_the_cli_holds(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    _, secret = await new_key(r, "--user", "ada")
    await ok("users", "set", "ada", "--rpm", "1", r=r)
    assert (await chat(r, headers=bearer(secret))).status_code == 200
    err = assert_error(await chat(r, headers=bearer(secret)), 429, "rate_limited")
    assert "this key's user may make 1 requests per minute" in err["message"]
    await ok("users", "set", "ada", "--rpm", "none", r=r)
    assert (await chat(r, headers=bearer(secret))).status_code == 200


# --- credits, budgets, usage -----------------------------------------------------------------------
async def test_credits_and_budgets(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    granted = fields(await ok("credits", "grant", "--user", "ada", "5", "--note", "welcome", r=r))
    assert (granted["user"], granted["granted_usd"], granted["balance_usd"]) == ("ada", "5", "5")
    assert fields(await ok("credits", "grant", "--user", "ada", "-1.5", r=r))["balance_usd"] == "3.5"
    shown = await ok("credits", "show", "--user", "ada", r=r)
    assert fields(shown.split("\n\n")[0]) == {"user": "ada", "balance_usd": "3.5"}
    grants = table(shown.split("grants:\n", 1)[1])
    assert [(g["USD"], g["NOTE"], g["BY"]) for g in grants] == [("-1.5", "-", "master"), ("5", "welcome", "master")]
    assert (await ok_json("credits", "show", "--user", "ada", r=r))["balance_usd"] == 3.5

    budget = fields(await ok("budgets", "set", "--user", "ada", "10", "--period", "week", r=r))
    assert (budget["usd"], budget["period"]) == ("10", "week")
    await ok("budgets", "set", "--user", "ada", "2.25", r=r)
    rows = table(await ok("budgets", "list", "--user", "ada", r=r))
    assert [(b["PERIOD"], b["USD"]) for b in rows] == [("month", "2.25"), ("week", "10")]
    assert fields(await ok("budgets", "delete", "--user", "ada", "--period", "week", r=r))["deleted"] == "yes"
    assert [b["period"] for b in (await ok_json("budgets", "list", "--user", "ada", r=r))["data"]] == ["month"]

    neither = await hubroute("budgets", "list", r=r)
    assert neither.code == 2 and "--user or --org" in neither.err


async def test_usage_grouped_as_a_table_and_as_csv(mocks: Mocks, router: RouterFactory, tmp_path: Any) -> None:
    r = await started(mocks, router, store={"url": f"sqlite:///{tmp_path / 'h.db'}", "flush_interval": 0.05})
    await ok("users", "create", "ada", r=r)
    key_id, secret = await new_key(r, "--user", "ada")
    for _ in range(2):
        assert (await chat(r, headers=bearer(secret))).status_code == 200
    for _ in range(200):  # the ledger writes every 50 ms
        async with r.client(headers=ADMIN) as c:
            rows = (await c.get("/admin/v1/usage")).json()["data"]
        if len(rows) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(rows) == 2

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    [row] = table(await ok("usage", "--group-by", "day,model", r=r))
    assert (row["DAY"], row["MODEL"], row["REQUESTS"], row["ERRORS"]) == (today, MODEL, "2", "0")
    assert (row["IN"], row["OUT"], row["COST_USD"]) == ("14", "10", "0.034")
    by_key = await ok_json("usage", "--group-by", "key", "--user", "ada", "--from", today, "--to", today, r=r)
    assert by_key["data"] == [{**by_key["data"][0], "key": key_id, "requests": 2}]
    assert await ok("usage", "--group-by", "model", "--to", "2001-01-01", r=r) == "(none)\n"

    out = await ok("usage", "--group-by", "model", "--key-id", key_id, "--csv", r=r)
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert [(c["model"], c["requests"], c["cost_usd"]) for c in parsed] == [(MODEL, "2", "0.034")]
    raw = table(await ok("usage", "--limit", "1", r=r))
    assert len(raw) == 1 and raw[0]["KEY"] == key_id and raw[0]["STATUS"] == "200"


# --- failures --------------------------------------------------------------------------------------
async def test_an_api_error_is_one_line_and_exit_1(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    assert failed(await hubroute("users", "show", "nobody", r=r)) == "hubroute: no user 'nobody'"
    await ok("users", "create", "ada", r=r)
    line = failed(await hubroute("keys", "create", "--user", "ada", "--surface", "nope", r=r))
    assert "unknown surface 'nope'" in line
    line = failed(await hubroute("usage", "--group-by", "colour", r=r))
    assert "'group_by'" in line and "colour" in line
    wrong = "sk-wrong-key-that-must-not-show"
    assert failed(await hubroute("users", "list", r=r, key=wrong)) == "hubroute: Invalid API key"
    missing = failed(await hubroute("users", "list", r=r, key=None))
    assert missing.startswith("hubroute: Missing API key") and "HUBROUTE_MASTER_KEY" in missing


async def test_an_unreachable_router_is_one_line_and_exit_1() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = failed(await hubroute("users", "list", "--url", url))
    assert line.startswith(f"hubroute: cannot reach {url}: ") and "refused" in line.lower()
    line = failed(await hubroute("keys", "list", "--url", "not-a-url"))
    assert line.startswith("hubroute: cannot reach not-a-url: expected http(s)://host[:port]")
    line = failed(await hubroute("keys", "list", "--url", "http://admin:hunter2@127.0.0.1:1"))
    assert line.startswith("hubroute: cannot reach http://***@127.0.0.1:1: ") and "hunter2" not in line


async def test_a_redirect_is_not_followed_with_the_key() -> None:
    reached: list[bytes] = []

    async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reached.append(await reader.read(4096))
        writer.close()

    async def redirect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(f"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{there}/\r\ncontent-length: 0\r\n"
                     "connection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    other = await asyncio.start_server(elsewhere, sock=listening_socket())
    there = other.sockets[0].getsockname()[1]
    server = await asyncio.start_server(redirect, sock=listening_socket())
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        line = failed(await hubroute("users", "list", "--url", url))
        assert "302" in line and "redirect" in line
        assert reached == []
    finally:
        server.close()
        other.close()


async def test_url_and_key_from_the_environment(mocks: Mocks, router: RouterFactory) -> None:
    r = await started(mocks, router)
    await ok("users", "create", "ada", r=r)
    from_env = await hubroute("users", "list", key=None, environ=env(HUBROUTE_URL=r.url, HUBROUTE_MASTER_KEY=MASTER))
    assert from_env.code == 0 and [u["NAME"] for u in table(from_env.out)] == ["ada"]
    fallback = await hubroute("users", "show", "ada", "--json", key=None,
                              environ=env(HUBROUTE_URL=r.url + "/", HUBROUTE_KEY=MASTER))
    assert fallback.code == 0 and json.loads(fallback.out)["name"] == "ada"
    # --key and --url win over the environment
    flags = await hubroute("users", "list", r=r, environ=env(HUBROUTE_URL="http://127.0.0.1:1",
                                                             HUBROUTE_MASTER_KEY="sk-not-this-one"))
    assert flags.code == 0 and "ada" in flags.out and "sk-not-this-one" not in flags.out + flags.err
