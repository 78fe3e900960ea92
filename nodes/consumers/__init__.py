"""Live streams for people: the portal's events socket and the Docker Cloud-compatible streams.

- `browser`: `/ws/events/` (session), portal pages' live events.
- `streams`: `/api/audit/v1/[ns/]events` and action logs (API credentials).
- `base`: what they share: bounded, rate-limited input and closing when the credential a
  socket was opened with is revoked, expires or changes.

Agents have their own consumer and authentication (agentapi/consumers.py).
"""

from .base import DirectDispatchMixin
from .browser import EventsConsumer, session_sockets_close
from .streams import ActionLogConsumer, DockerCloudEventsConsumer

__all__ = [
    "ActionLogConsumer",
    "DirectDispatchMixin",
    "DockerCloudEventsConsumer",
    "EventsConsumer",
    "session_sockets_close",
]
