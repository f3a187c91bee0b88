"""What routers learn of the providers, told to each other through Redis (`redis.share_health`).

    shared = SharedHealth(link, health, prefix="hubroute:")   # then shared.start() on the event loop
    await shared.close()

A circuit opened here (a provider x model failing), a pair paused by a provider's `Retry-After`, or
a circuit closed again by a probe that succeeded, is sent to Redis as it happens (one script, its
answer not awaited: nothing on the request's path). Every router process reads what the others sent
once every `interval` seconds (one round trip) and applies it to its own breakers
(`routing.health.Health.learn`): a circuit opened elsewhere is open here until the same moment, a
pause ends at the same moment. So one router's discovery that a provider is down spares the others
its failures, within a second.

Speed figures go the same way, each router process sending once a second those it measured anew:
Redis keeps one figure a pair for the deployment, each router's sent figure moved into it as an
average is (a fifth of the way), and every process reads them back with the states: a pair it has
measured little gets the deployment's figure (`Health.learn_speed`), so that `:fastest` orders
providers well from a router's first request. A figure not sent for `STALE` seconds is not read.

Redis keeps, per deployment prefix, a sorted set of states (a member per state: `open` or `paused`,
the provider, the model; scored by when it ends on Redis's clock; ended ones are removed as it is
read and written) and a hash of speed figures. Redis out of reach: nothing is told or learnt (each
router keeps its own breakers and figures, as without Redis); the link says so once.
"""

from __future__ import annotations

import asyncio
import logging
import math

from hubroute.routing.health import Health, Key
from hubroute.store import stop
from hubroute.store.redislink import RedisError, RedisLink, RedisUnavailable, Script
from hubroute.store.shared_limits import _NOW

log = logging.getLogger("hubroute.redis")

#: separates a member's state, provider and model (no provider name or model id holds it)
_SEP = "\x1f"

#: Redis's clock (`now`, ms), the states that have ended taken out of the set
_LIVE = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
"""

# KEYS: the set; ARGV: the member, the milliseconds it holds for, the set's expiry in milliseconds
TELL = Script("health-tell", _LIVE + """
local ends = now + tonumber(ARGV[2])
local known = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not known or tonumber(known) < ends then redis.call('ZADD', KEYS[1], ends, ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
""")

# KEYS: the set; ARGV: the member that no longer holds
FORGET = Script("health-forget", "return redis.call('ZREM', KEYS[1], ARGV[1])")

# KEYS: the set, the figures; the time on Redis's clock, every state that holds with when it ends,
# and every pair's figure
READ = Script("health-read", _LIVE + """
return {now, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES'), redis.call('HGETALL', KEYS[2])}
""")

# KEYS: the figures; ARGV: the share of a new figure in the pair's, the hash's expiry in ms, then per
# pair its field, its throughput and time to first byte ('' when not measured). A pair's value:
# "throughput|ttfb|when sent" (ms, Redis's clock)
SPEEDS = Script("health-speeds", _NOW + """
local share = tonumber(ARGV[1])
for i = 3, #ARGV, 3 do
  local new = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])}
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if old then
    local j = 1
    for part in string.gmatch(old, '([^|]*)|') do
      local was = tonumber(part)
      if was and new[j] then new[j] = was + share * (new[j] - was) elseif was then new[j] = was end
      j = j + 1
    end
  end
  redis.call('HSET', KEYS[1], ARGV[i], (new[1] or '') .. '|' .. (new[2] or '') .. '|' .. now)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
""")

SCRIPTS = (TELL, FORGET, READ, SPEEDS)
#: seconds after which a pair's figure no longer sent by any router is not read
STALE = 600.0
#: the share of a router's figure in the deployment's
SHARE = 0.2


class SharedHealth:
    #: seconds between two reads of what the other routers learnt
    interval = 1.0

    def __init__(self, link: RedisLink, health: Health, *, prefix: str = "hubroute:",
                 interval: float | None = None) -> None:
        self.link = link
        self.health = health
        self.key = f"{prefix}health"
        self.speeds = f"{prefix}speeds"
        #: per pair: its samples when this router last sent its figure
        self._sent: dict[Key, int] = {}
        if interval is not None:
            self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.health.listener = self.tell
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._read_often(), name="hubroute-shared-health")

    async def close(self) -> None:
        if self.health.listener == self.tell:
            self.health.listener = None
        await stop(self._task)
        self._task = None

    def tell(self, pair: Key, state: str, seconds: float) -> None:
        """`Health.listener`: what this router learnt, sent (not awaited; lost if Redis is out of reach)."""
        provider, model = pair
        if state == "closed":
            self.link.send(FORGET, [self.key], [_SEP.join(("open", provider, model))])
            return
        held = max(1, math.ceil(seconds * 1000))
        # (the set outlives its longest state: nothing of it is left once they have all ended)
        self.link.send(TELL, [self.key], [_SEP.join((state, provider, model)), held,
                                          max(held, math.ceil(self.health.max_pause * 1000)) + 1000])

    def send_speeds(self) -> int:
        """Send the figures measured here since they were last sent (not awaited); how many."""
        args: list[str | int | float] = [SHARE, int(STALE * 1000) * 2]
        sent = 0
        for (provider, model), speed in self.health.measured().items():
            if speed.samples and self._sent.get((provider, model)) != speed.samples:
                self._sent[(provider, model)] = speed.samples
                args += (_SEP.join((provider, model)), _figure(speed.throughput), _figure(speed.ttfb))
                sent += 1
        if sent:
            self.link.send(SPEEDS, [self.speeds], args)
        return sent

    async def read(self) -> int:
        """Apply what the routers told, now; how many states hold."""
        now, flat, figures = await self.link.run(READ, [self.key, self.speeds], [])
        learnt = 0
        for member, ends in zip(flat[::2], flat[1::2], strict=True):
            parts = member.decode(errors="replace").split(_SEP)
            if len(parts) != 3 or parts[0] not in ("open", "paused"):
                continue
            self.health.learn((parts[1], parts[2]), parts[0], (int(ends) - int(now)) / 1000)
            learnt += 1
        for field, value in zip(figures[::2], figures[1::2], strict=True):
            pair, figure = field.decode(errors="replace").split(_SEP), value.decode(errors="replace").split("|")
            if len(pair) != 2 or len(figure) != 3 or not figure[2].isdigit():
                continue
            if int(now) - int(figure[2]) > STALE * 1000:
                continue
            self.health.learn_speed((pair[0], pair[1]), _number(figure[0]), _number(figure[1]))
        return learnt

    async def _read_often(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.send_speeds()
                await self.read()
            except (RedisUnavailable, RedisError):  # (the link says it once; breakers stay this router's own)
                continue
            except Exception:  # a bug: said, and the breakers go on as they are
                log.exception("could not read the routers' shared provider health")


def _figure(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
