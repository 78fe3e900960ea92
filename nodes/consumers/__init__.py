"""Live streams for people: the portal's events socket and the Docker Cloud-compatible streams.

- `browser`: `/ws/events/` (session), portal pages' live events.
- `streams`: `/api/audit/v1/[ns/]events` and action logs (API credentials).
What they share (bounded, rate-limited input, closing when the credential a socket was
opened with is revoked, expires or changes) is `realtime.consumers`.

Agents have their own consumer and authentication (agentapi/consumers.py).
"""

from .browser import EventsConsumer
from .streams import ActionLogConsumer, DockerCloudEventsConsumer

__all__ = [
    "ActionLogConsumer",
    "DockerCloudEventsConsumer",
    "EventsConsumer",
]
