"""The `hubroute` command.

    hubroute serve [--config FILE] [--host H] [--port P] [--allow-unauthenticated]
    hubroute db upgrade [--config FILE]
    hubroute users|orgs|keys|credits|budgets|usage ...   administration over the HTTP admin API (admin_cli.py)

A bad config is refused at start with one line naming the key and the problem (exit 2), never a
traceback; so is an address that cannot be listened on (a port in use).
Listening on a non-loopback address with no master key is refused unless
`--allow-unauthenticated` (or `server.allow_unauthenticated: true`) says it is meant.
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from hubroute import __version__
from hubroute.admin_cli import GROUPS as ADMIN_GROUPS
from hubroute.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.group()
@click.version_option(__version__, prog_name="hubroute")
def main() -> None:
    """hubroute: one endpoint and one key for every model on every inference provider."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML config file (see README). Without it: keys from the environment.")
@click.option("--host", help="Address to listen on (default 127.0.0.1, or server.host).")
@click.option("--port", type=int, help="Port to listen on (default 8080, or server.port).")
@click.option("--allow-unauthenticated", is_flag=True,
              help="Allow listening beyond loopback with no master key configured.")
@click.option("--workers", type=click.IntRange(1, 256),
              help="Router processes on the port, the kernel spreading connections (default 1, or server.workers).")
def serve(config_path: Path | None, host: str | None, port: int | None, allow_unauthenticated: bool,
          workers: int | None) -> None:
    """Run the router."""
    from hubroute.config import Settings

    try:
        settings = Settings.load(config_path) if config_path else Settings.from_env()
        if host:
            settings.server.host = host
        if port is not None:
            settings.server.port = port
        if workers is not None:
            settings.server.workers = workers
        settings.validate()
        if allow_unauthenticated:
            settings.server.allow_unauthenticated = True
        s = settings.server
        if not _is_loopback(s.host) and not s.master_key and not s.allow_unauthenticated:
            raise ConfigError(
                "server.master_key",
                f"refusing to listen on {s.host} with no master key: anyone who can reach it could spend your "
                "provider credits. Set server.master_key (or HUBROUTE_MASTER_KEY), or pass "
                "--allow-unauthenticated if that is really meant",
            )
        from hubroute.server.serve import CannotStart, run

        try:
            run(settings)
        except CannotStart as exc:  # a port in use, a store out of reach: one line, as a bad config's
            click.echo(f"hubroute: {exc}", err=True)
            sys.exit(2)
    except ConfigError as exc:
        click.echo(f"hubroute: {exc.message}", err=True)
        sys.exit(2)


@main.group()
def db() -> None:
    """The store's database (store.url)."""


@db.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML config file (its store.url); without it: $HUBROUTE_STORE_URL or the default file.")
def upgrade(config_path: Path | None) -> None:
    """Bring the database's schema to this hubroute's latest (`hubroute serve` also does it at start)."""
    import asyncio

    from hubroute.config import Settings
    from hubroute.store import StoreUnavailable, default_url, redacted
    from hubroute.store import upgrade as upgrade_store

    try:
        settings = Settings.load(config_path) if config_path else Settings.from_env()
        url = settings.store.url or default_url()
        before, now = asyncio.run(upgrade_store(url, ledger_partition=settings.store.ledger_partition))
    except ConfigError as exc:
        click.echo(f"hubroute: {exc.message}", err=True)
        sys.exit(2)
    except StoreUnavailable as exc:
        click.echo(f"hubroute: {exc}", err=True)
        sys.exit(1)
    change = "up to date" if before == now else f"upgraded from {before or 'an empty database'}"
    click.echo(f"{redacted(url)}: schema {now} ({change})")


for _group in ADMIN_GROUPS:  # cheap to import: urllib is imported when one of them runs
    main.add_command(_group)


if __name__ == "__main__":
    main()
