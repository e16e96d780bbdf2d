"""What the service keeps in Redis, and every command on it: every key name (keys, private to this package),
every Lua script with the builder of its call (scripts), the inbox entry encoding (entries), the RQ jobs it
writes itself (jobs), and one module per structure (inbox, handled, replays, replies, leases, pulls, streams,
dead_letter, quarantine, archive, campaigns, throughput, handler_state), and how a write waits for replicas
when asked to (replication). The roles call these; none names a key.

How queued responses sit in Redis, between the receiver (and poller) that write them and the workers:
each queue has an inbox list of UserResponse JSON. Writers append to it and make sure one real RQ job
(`infobip_inbound.workers.jobs.drain_inbox`) is waiting on the queue's RQ list; the job, when it starts,
claims up to `claim_max` responses into its own batch list (keys.batch_key) and handles them. So
the number of RQ jobs follows the workers' pace, not the request rate: under load a job claims what
accumulated while the previous one ran, and RQ's per-job cost (several round trips) is paid per batch,
not per message.

The "a drain job is waiting" mark (keys.pending_key: the job's id) is trusted only while that
job is still queued or running; a job that failed, waits for RQ's retry, or vanished no longer blocks
new ones, and every worker's maintenance thread makes sure a drain job waits for any inbox that holds
entries (scripts.ensure_drain), so an inbox never waits for traffic to be looked at again.
"""
