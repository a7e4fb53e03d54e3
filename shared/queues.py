"""RQ plumbing: JSON-serialised queues, and publishing events to the queues of their consumers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import redis
import structlog
from rq import Queue, Retry
from rq.serializers import JSONSerializer

from shared.contracts.events import Event
from shared.redisconn import RedisProvider
from shared.registry import consumers_of, service

log = structlog.get_logger(__name__)

# Backoff for a consumer job that fails: RQ has no exponential option, so the steps are explicit.
RETRY_INTERVALS = (5, 30, 120, 600, 1800)
# Failed jobs stay visible to operators for a month (RQ's default is a year).
FAILURE_TTL_SECONDS = 30 * 24 * 3600
RESULT_TTL_SECONDS = 600


def make_queue(name: str, connection: redis.Redis) -> Queue:
    """Return the named queue with the JSON serializer (never pickle between services)."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


class EventPublisher:
    """Sends events to every queue that consumes them, one job per queue carrying a batch."""

    def __init__(self, redis_provider: RedisProvider, *, job_timeout: int = 30) -> None:
        self.redis_provider = redis_provider
        self.job_timeout = job_timeout

    def publish(self, events: Sequence[Event]) -> list[str]:
        """Enqueue the events for their consumers; return the ids of the jobs enqueued."""
        batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for event in events:
            for consumer in consumers_of(event.type):
                batches[consumer.queue].append(event.to_dict())
        connection = self.redis_provider.connection
        job_ids: list[str] = []
        for queue_name, envelopes in batches.items():
            queue = make_queue(queue_name, connection)
            job = queue.enqueue_call(
                service(queue_name).consumer_entrypoint,
                args=(envelopes,),
                timeout=self.job_timeout,
                retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                failure_ttl=FAILURE_TTL_SECONDS,
                result_ttl=RESULT_TTL_SECONDS,
                description=f"{len(envelopes)} event(s): {', '.join(sorted({e['type'] for e in envelopes}))}",
                meta={"event_ids": [envelope["id"] for envelope in envelopes]},
            )
            job_ids.append(job.id)
            log.info(
                "events_enqueued",
                queue=queue_name,
                count=len(envelopes),
                event_ids=[e["id"] for e in envelopes],
            )
        return job_ids
