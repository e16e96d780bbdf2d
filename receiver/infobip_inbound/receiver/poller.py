"""The PULL poller: drains Infobip's pull-once inbox of each configured account into the queues.

Order of every pull, for nothing to be lost: renew the leader lease (a Redis call: if Redis is down,
nothing is pulled), wait for the account's throttle slot, pull, store the raw body, then normalize
and queue it through the same dedup script as the forward path, then remove the raw body. Only the
leader pulls, and only while its lease outlasts the longest pull. SIGTERM lets the pull in hand be
stored and queued, then stops.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import redis

from infobip_inbound.contract.backoff import exponential
from infobip_inbound.contract.redaction import redactor_for
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import PullAccount, Settings
from infobip_inbound.contract.store import pulls
from infobip_inbound.infobip.client import InfobipClient, InfobipError, InfobipTransportError
from infobip_inbound.infobip.retry import RetryPolicy
from infobip_inbound.receiver.enqueue import InboxWriter
from infobip_inbound.receiver.lease import Lease
from infobip_inbound.receiver.poller_metrics import count_pull_error
from infobip_inbound.receiver.pull_store import PullStore
from infobip_inbound.receiver.pull_throttle import PullThrottle
from infobip_inbound.runtime import tracing

log = logging.getLogger("infobip_inbound.poller")

_CREDENTIAL_STATUSES = frozenset({401, 403})


class PollerNotConfigured(ValueError):
    """A poll account has no Infobip base URL or API key."""


@dataclass
class Account:
    name: str
    client: InfobipClient
    throttle: PullThrottle
    stopped: str | None = None  # set when Infobip refuses the credentials: polling this account ends
    retry_at: float = 0.0  # monotonic time before which this account is not pulled (backoff)
    failures: int = 0
    pulls: int = 0
    pulled: int = 0
    pending: int | None = None
    last_drain_at: float | None = None  # wall clock of the last pull that left nothing pending
    last_error: str | None = None
    rng: random.Random = field(default_factory=random.Random)

    def status(self) -> dict[str, Any]:
        return {
            "stopped": self.stopped,
            "pulls": self.pulls,
            "pulled": self.pulled,
            "pending": self.pending,
            "last_drain_at": self.last_drain_at,
            "last_error": self.last_error,
        }


def accounts_from_settings(settings: Settings, connection: redis.Redis) -> list[Account]:
    configured = settings.poll_accounts or [PullAccount(name="default")]
    timeout = httpx.Timeout(settings.poll_timeout_seconds, connect=min(5.0, settings.poll_timeout_seconds))
    accounts = []
    for account in configured:
        base_url = account.base_url or settings.infobip_base_url
        api_key = account.api_key or settings.infobip_api_key
        if not base_url or api_key is None:
            raise PollerNotConfigured(
                f"poll account {account.name!r} has no Infobip base URL or API key: set INBOUND_INFOBIP_BASE_URL "
                "and INBOUND_INFOBIP_API_KEY, or base_url and api_key in INBOUND_POLL_ACCOUNTS"
            )
        # One try per call: the poller does its own backoff, between lease renewals.
        client = InfobipClient(base_url, api_key, timeout=timeout, retry=RetryPolicy(max_tries=1))
        throttle = PullThrottle(connection, api_key.get_secret_value(), settings.poll_requests_per_second)
        accounts.append(Account(account.name, client, throttle))
    return accounts


class Poller:
    def __init__(
        self,
        settings: Settings,
        connection: redis.Redis,
        accounts: list[Account],
        stop: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self.redact = redactor_for(settings)  # what the status figures keep of an error
        self.connection = connection
        self.accounts = accounts
        self.stop = stop or threading.Event()
        self.lease = Lease(connection, settings.poll_lease_seconds)
        self.store = PullStore(
            connection, InboxWriter(settings), Router.from_settings(settings), settings.poll_spill_dir
        )
        self.leader = False
        self.redis_ok = False
        self.heartbeat = time.monotonic()
        # A pull must end well inside the lease: its read and connect timeouts, plus a second to store it.
        self._lease_margin = settings.poll_timeout_seconds + min(5.0, settings.poll_timeout_seconds) + 1.0

    def run(self) -> None:
        log.info("poller started", extra={"owner": self.lease.owner, "accounts": [a.name for a in self.accounts]})
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                self.tick()
                # The interval counts from the start of the tick: a long drain never stacks ticks.
                self.stop.wait(max(0.0, self.settings.poll_interval_seconds - (time.monotonic() - started)))
        finally:
            with contextlib.suppress(redis.RedisError):  # it expires by itself anyway
                self.lease.release()
            for account in self.accounts:
                account.client.close()
            log.info("poller stopped", extra={"owner": self.lease.owner})

    def tick(self) -> None:
        self.heartbeat = time.monotonic()
        try:
            was_leader = self.leader
            self.leader = self.lease.renew()
            self.redis_ok = True
            if self.leader and not was_leader:
                log.info("leading the pollers", extra={"owner": self.lease.owner, "fencing_token": self.lease.token})
            if self.leader:
                self.store.recover()
                for account in self.accounts:
                    if self.stop.is_set():
                        break
                    self.drain(account)
            self._publish_status()
        except redis.RedisError as exc:
            # Never pull what cannot be stored: with Redis unreachable this tick pulls nothing.
            self.redis_ok = False
            self.leader = False
            log.error("Redis unavailable; not pulling", extra={"error": type(exc).__name__})

    def drain(self, account: Account) -> None:
        """Pull until Infobip reports nothing pending, within the throttle and while leading."""
        while not self.stop.is_set() and account.stopped is None and time.monotonic() >= account.retry_at:
            self.heartbeat = time.monotonic()
            if not self.lease.renew() or self.lease.remaining() < self._lease_margin:
                self.leader = False
                return
            if not account.throttle.wait(deadline=time.monotonic() + self.lease.remaining() - self._lease_margin):
                continue  # renew the lease, then wait again
            batch_id = self.store.new_batch_id(account.name, self.lease.token)
            # One trace per pull: the pull, the raw store and the enqueue (whose context its messages carry).
            attributes = {"infobip_inbound.account": account.name, "infobip_inbound.batch_id": batch_id}
            with tracing.span("infobip pull", attributes, root=True) as span:
                try:
                    pulled = account.client.pull_reports(self.settings.poll_limit)
                except (InfobipError, InfobipTransportError) as exc:
                    tracing.failed(span, exc)
                    self._failed(account, exc)
                    return
                self.store.store(batch_id, pulled.raw)
                processed = self.store.process(batch_id, pulled.raw)
                if span is not None:
                    span.set_attribute("infobip_inbound.messages", processed.messages)
                    span.set_attribute("infobip_inbound.accepted", processed.accepted)
            account.pulls += 1
            account.pulled += processed.messages
            account.pending = processed.pending
            account.failures = 0
            account.last_error = None
            if not processed.pending:
                account.last_drain_at = time.time()
                return

    def _failed(self, account: Account, exc: InfobipError | InfobipTransportError) -> None:
        count_pull_error(account.name, exc)
        account.failures += 1
        account.last_error = self.redact(str(exc))
        if isinstance(exc, InfobipError) and exc.status in _CREDENTIAL_STATUSES:
            account.stopped = f"Infobip refused the credentials ({exc.status} {exc.message_id or ''})".strip()
            log.error(
                "POLLING STOPPED for account %s: %s. Fix the API key and restart the poller.",
                account.name,
                exc,
                extra={"account": account.name},
            )
            return
        retry_after = exc.retry_after if isinstance(exc, InfobipError) else None
        backoff = exponential(account.failures + 1, 0.5, self.settings.poll_backoff_max_seconds, 0.5, account.rng)
        delay = retry_after if retry_after is not None else backoff
        account.retry_at = time.monotonic() + delay
        log.warning(
            "pull failed; backing off",
            extra={"account": account.name, "error": str(exc), "delay_s": round(delay, 3)},
        )

    def _publish_status(self) -> None:
        status = {
            "owner": self.lease.owner,
            "leader": self.leader,
            "fencing_token": self.lease.token,
            "at": time.time(),
            "accounts": {account.name: account.status() for account in self.accounts},
        }
        ttl = max(60, int(self.settings.poll_interval_seconds * 10))
        pulls.publish_status(self.connection, self.lease.owner, orjson.dumps(status), ttl)

    # Health

    def live(self) -> tuple[bool, dict[str, Any]]:
        stale_after = max(60.0, self.settings.poll_interval_seconds * 3 + self.settings.poll_timeout_seconds * 2)
        age = time.monotonic() - self.heartbeat
        return age < stale_after, {"loop_age_s": round(age, 1)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        stopped = {a.name: a.stopped for a in self.accounts if a.stopped}
        return self.redis_ok and not stopped, {
            "redis": "ok" if self.redis_ok else "unavailable",
            "leader": self.leader,
            "stopped_accounts": stopped,
        }


def run_poller(settings: Settings, connection: redis.Redis) -> None:
    """The `poller` role: run until SIGTERM or SIGINT, with health endpoints when INBOUND_HEALTH_PORT is set."""
    from infobip_inbound.runtime.health import serve_health

    tracing.setup()  # from the standard OTEL_* variables
    stop = threading.Event()
    poller = Poller(settings, connection, accounts_from_settings(settings, connection), stop)

    def request_stop(signum: int, frame: object) -> None:
        log.info("stopping after the batch in hand", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if settings.health_port:
        from infobip_inbound.receiver.poller_metrics import PollerCollector
        from infobip_inbound.runtime.metrics import register

        register(PollerCollector(lambda: poller.leader, poller.accounts))
        serve_health(settings.host, settings.health_port, poller.live, poller.ready)
    poller.run()
