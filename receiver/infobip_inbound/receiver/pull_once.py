"""`pull once`: drain one account's PULL inbox into the queues now, with the poller's durability.

The poller's own parts do the work: the account's client and shared throttle (accounts_from_settings), and
PullStore, which keeps each answer raw in Redis before reading it and queues through the forward path's dedup
script. Batches an earlier run left stored (a crash after the store) are processed first. No lease is taken:
a running poller and this command may both pull, each batch is stored before it is read, and the throttle is
shared in Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings
from infobip_inbound.infobip.client import PULL_LIMIT_MAX
from infobip_inbound.receiver.enqueue import InboxWriter
from infobip_inbound.receiver.poller import Account, accounts_from_settings
from infobip_inbound.receiver.pull_store import Processed, PullStore

MANUAL_TOKEN = 0  # the fencing token in the batch ids of `pull once` (the poller's tenures count from 1)
MAX_PULLS = 10_000  # a bound on one run: 10 million messages at Infobip's 1000 per pull


class UnknownAccount(ValueError):
    """--account names no configured poll account."""


@dataclass
class PullOnce:
    account: str
    recovered: list[Processed] = field(default_factory=list)  # batches an earlier run left stored
    batches: list[Processed] = field(default_factory=list)  # pulled now
    pending: int | None = None  # Infobip's pendingMessageCount after the last pull

    @property
    def pulled(self) -> int:
        return sum(b.messages + b.quarantined for b in self.batches)

    @property
    def queued(self) -> int:
        return sum(b.accepted for b in self.recovered + self.batches)

    @property
    def quarantined(self) -> int:
        return sum(b.quarantined for b in self.recovered + self.batches)

    def as_json(self) -> dict[str, object]:
        return {
            "account": self.account,
            "pulls": len(self.batches),
            "pulled": self.pulled,
            "queued": self.queued,
            "duplicates": sum(b.messages - b.accepted for b in self.recovered + self.batches),
            "quarantined": self.quarantined,
            "recovered_batches": len(self.recovered),
            "pending": self.pending,
        }


def pick(accounts: list[Account], name: str | None) -> Account:
    if name is None:
        return accounts[0]
    for account in accounts:
        if account.name == name:
            return account
    known = ", ".join(a.name for a in accounts)
    raise UnknownAccount(f"no poll account named {name!r} (configured: {known})")


def pull_once(settings: Settings, connection: redis.Redis, account_name: str | None, limit: int | None) -> PullOnce:
    """Pull until Infobip reports nothing pending, or `limit` messages were asked for. Raises the client's
    InfobipError / InfobipTransportError (what was stored before stays stored and queued) and redis errors."""
    connection.ping()  # never pull what cannot be stored: without Redis, nothing is pulled
    accounts = accounts_from_settings(settings, connection)
    try:
        account = pick(accounts, account_name)
        store = PullStore(connection, InboxWriter(settings), Router.from_settings(settings), settings.poll_spill_dir)
        run = PullOnce(account.name, recovered=store.recover())
        remaining = limit
        for _ in range(MAX_PULLS):
            size = min(PULL_LIMIT_MAX, remaining) if remaining is not None else settings.poll_limit
            account.throttle.wait()
            batch_id = store.new_batch_id(account.name, MANUAL_TOKEN)
            pulled = account.client.pull_reports(size)
            store.store(batch_id, pulled.raw)  # before anything reads it: the batch is handed out once
            processed = store.process(batch_id, pulled.raw)
            run.batches.append(processed)
            run.pending = processed.pending
            if remaining is not None:
                remaining -= processed.messages + processed.quarantined
            if not processed.pending or (remaining is not None and remaining <= 0):
                break
            if processed.messages + processed.quarantined == 0:
                break  # pending but nothing handed out: ask again later, not in a tight loop
        return run
    finally:
        for each in accounts:
            each.client.close()
