"""The archive as the enqueue script and the workers' transactions write it, read back (real Redis)."""

from __future__ import annotations

import orjson
import redis

from infobip_inbound.contract.model import Source
from infobip_inbound.contract.routing import Router
from infobip_inbound.contract.settings import Settings, load_settings
from infobip_inbound.contract.store import archive, keys, scripts
from infobip_inbound.contract.store.archive import Filters
from infobip_inbound.infobip.envelope import normalize, read_envelope
from infobip_inbound.receiver.enqueue import InboxWriter, enqueue_now, quarantine_entries
from tests.support import envelope, result


def _enqueue(
    connection: redis.Redis, settings: Settings, *results: dict[str, object], source: Source = "forward"
) -> tuple[int, int, int]:
    """Enqueue an envelope's results as the forward endpoint does (the unreadable ones quarantined)."""
    read = normalize(read_envelope(orjson.dumps(envelope(*results))), source)
    quarantined = quarantine_entries(read.unreadable, source)
    writer = InboxWriter(settings)
    done = enqueue_now(connection, writer, Router.from_settings(settings), read.responses, quarantined)
    return done.accepted, done.duplicates, done.quarantined


def test_an_accepted_response_is_archived_once_and_its_outcomes_appended(redis_client: redis.Redis) -> None:
    settings = load_settings(redis_url="redis://unused")
    assert _enqueue(redis_client, settings, result("a-1", keyword="YES"), result("a-2")) == (2, 0, 0)
    assert _enqueue(redis_client, settings, result("a-1")) == (0, 1, 0)  # a duplicate adds nothing
    pipe = redis_client.pipeline(transaction=True)
    archive.note(pipe, settings, "a-1", archive.handler_line("crm", archive.RETRYING, 1, "in 10 s: Boom:\nline\x1fx"))
    archive.note(pipe, settings, "a-1", archive.handler_line("crm", archive.HANDLED, 2))
    pipe.execute()

    journey = archive.load(redis_client, "a-1")
    assert journey is not None
    assert [(e.kind, e.handler, e.tries) for e in journey.events] == [
        ("accepted", None, None),
        ("duplicate", None, None),  # delivered again: not queued, but told
        ("retrying", "crm", 1),
        ("handled", "crm", 2),
    ]
    assert journey.events[2].detail == "in 10 s: Boom: line x"  # one line, no separator inside
    assert journey.queue == settings.default_queue and journey.field("keyword") == "YES"
    assert journey.outcomes()["crm"].kind == "handled"
    assert journey.entry is not None and journey.entry.endswith(b"}")
    # Both strings expire (the age bound): neither is kept for ever.
    assert redis_client.ttl(keys.archive_key("a-1")) != -1
    assert redis_client.ttl(keys.archive_events_key("a-1")) != -1
    assert archive.load(redis_client, "never-seen") is None


def test_a_quarantined_result_with_an_id_has_a_journey_that_goes_on_when_it_is_queued(
    redis_client: redis.Redis,
) -> None:
    settings = load_settings(redis_url="redis://unused")
    assert _enqueue(redis_client, settings, {"messageId": "q-1"}) == (0, 0, 1)
    journey = archive.load(redis_client, "q-1")
    assert journey is not None and journey.quarantined and journey.accepted_at is None
    assert "applicationCode" in journey.events[0].detail
    assert journey.entry is None

    assert _enqueue(redis_client, settings, result("q-1")) == (1, 0, 0)  # reprocessed, or sent right
    journey = archive.load(redis_client, "q-1")
    assert journey is not None
    assert [e.kind for e in journey.events] == ["quarantined", "accepted"]
    assert journey.accepted_at is not None


def test_the_archive_keeps_at_most_its_bound_newest_first(redis_client: redis.Redis) -> None:
    settings = load_settings(redis_url="redis://unused", archive_max_messages=5)
    for n in range(12):
        _enqueue(redis_client, settings, result(f"b-{n:02d}"))
    assert redis_client.zcard(keys.ARCHIVE_INDEX) == 5
    assert archive.load(redis_client, "b-00") is None
    assert redis_client.exists(keys.archive_key("b-00"), keys.archive_events_key("b-00")) == 0
    newest = [j.message_id for j in archive.select(redis_client, Filters())]
    assert newest == [f"b-{n:02d}" for n in range(11, 6, -1)]
    assert archive.figures(redis_client)["messages"] == 5


def test_archiving_off_writes_nothing(redis_client: redis.Redis) -> None:
    settings = load_settings(redis_url="redis://unused", archive=False)
    assert _enqueue(redis_client, settings, result("off-1"), {"messageId": "off-q"}) == (1, 0, 1)
    assert redis_client.zcard(keys.ARCHIVE_INDEX) == 0
    assert not list(redis_client.scan_iter(match="inbound:archive:*"))


def test_filters_select_by_fields_window_and_outcome(redis_client: redis.Redis) -> None:
    settings = load_settings(redis_url="redis://unused")
    _enqueue(redis_client, settings, result("f-1", keyword="YES", applicationCode="app-9", bulkId="spring"))
    _enqueue(redis_client, settings, result("f-2", keyword="no"), source="pull")
    _enqueue(redis_client, settings, result("f-3"))
    pipe = redis_client.pipeline(transaction=True)
    archive.note(pipe, settings, "f-2", archive.handler_line("crm", archive.DEAD, 4, "abc: Boom"))
    archive.note(pipe, settings, "f-3", archive.handler_line("crm", archive.HANDLED, 1))
    pipe.execute()

    def ids(**given: object) -> list[str]:
        return sorted(j.message_id for j in archive.select(redis_client, Filters(**given)))  # type: ignore[arg-type]

    assert ids(keyword="yes") == ["f-1"]
    assert ids(application="app-9") == ids(bulk_id="spring") == ["f-1"]
    assert ids(source="pull") == ids(outcome="dead") == ids(outcome="dead", handler="crm") == ["f-2"]
    assert ids(outcome="dead", handler="jsonl") == []
    assert ids(outcome="pending") == ["f-1"]
    assert ids(outcome="pending", handler="crm") == ["f-1"]
    assert ids(outcome="handled") == ["f-3"]
    # The window, from the acceptance times themselves (no clock): bounds are inclusive, by the millisecond.
    accepted = sorted(j.accepted_at or 0 for j in archive.select(redis_client, Filters()))
    assert ids(since=accepted[-1] + 0.001) == [] and ids(until=accepted[0] - 0.001) == []
    assert len(ids(since=accepted[0], until=accepted[-1])) == 3
    assert len(list(archive.select(redis_client, Filters(), limit=2))) == 2


def test_a_duplicate_delivery_is_told_with_its_request_and_a_flood_of_them_is_bounded(
    redis_client: redis.Redis,
) -> None:
    settings = load_settings(redis_url="redis://unused")
    writer = InboxWriter(settings)
    read = normalize(read_envelope(orjson.dumps(envelope(result("dup-1")))), "forward")
    queue = settings.default_queue
    assert writer.script_call(queue, read.responses, ["first-request"]).run(redis_client) == [1]
    assert writer.script_call(queue, read.responses, ["retry-request"]).run(redis_client) == [0]
    journey = archive.load(redis_client, "dup-1")
    assert journey is not None
    duplicate = journey.events[1]
    assert (duplicate.kind, duplicate.detail) == (archive.DUPLICATE, "retry-request")
    assert journey.request_id == "first-request"  # the record is the first delivery's
    for n in range(500):  # a flood of one id: its events stop growing at the bound
        writer.script_call(queue, read.responses, [f"flood-{n}"]).run(redis_client)
    size = redis_client.strlen(keys.archive_events_key("dup-1"))
    assert scripts.DUPLICATE_EVENTS_BYTES <= size < scripts.DUPLICATE_EVENTS_BYTES + 100
    assert redis_client.ttl(keys.archive_events_key("dup-1")) != -1
    # Archiving off: a duplicate writes nothing either.
    off = InboxWriter(load_settings(redis_url="redis://unused", archive=False))
    off.script_call(queue, normalize(read_envelope(orjson.dumps(envelope(result("dup-2")))), "forward").responses).run(
        redis_client
    )
    assert redis_client.exists(keys.archive_events_key("dup-2")) == 0


def test_a_success_recorded_again_after_its_answer_was_lost_shows_once(redis_client: redis.Redis) -> None:
    # The same write again, as a retry after a lost answer does it: the handled marks are SETs, the event's line
    # is appended twice and read as one event.
    from infobip_inbound.contract.store.handled import already_handled, pair_id
    from infobip_inbound.workers.idempotency import record_success

    settings = load_settings(redis_url="redis://unused")
    assert _enqueue(redis_client, settings, result("r-1")) == (1, 0, 0)
    line = archive.handler_line("crm", archive.HANDLED, 1)
    for _ in range(2):
        record_success(
            redis_client, [pair_id("r-1", "crm")], 60, lambda pipe: archive.note(pipe, settings, "r-1", line)
        )
    journey = archive.load(redis_client, "r-1")
    assert journey is not None
    assert [(e.kind, e.handler) for e in journey.events] == [("accepted", None), ("handled", "crm")]
    assert already_handled(redis_client, [pair_id("r-1", "crm")]) == {pair_id("r-1", "crm")}
