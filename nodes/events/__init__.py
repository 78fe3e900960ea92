"""Live Docker events: from every node to the database, the browser and the API stream.

    agent (seq, on-disk buffer) --event--> agentapi consumer --> ingest.EventWriter
        --bulk insert, ignore (node, seq) conflicts--> DockerEvent --ack--> agent
        --events.batch--> groups org.<id> / node.<org>.<id> --> nodes.consumers
            EventsConsumer (browsers, session)     DockerCloudEventsConsumer (API headers)

Platform changes (nodes, node clusters, actions: created, changed, ended) are events too: the
transitions (nodes.transitions) call `node_state_event`, `cluster_state_event` or
`action_state_event`, which store a row and `emit_on_commit` it. Sync code sends live messages
only through `emit_on_commit`.
"""

from .services import (
    action_log_event,
    action_state_event,
    cluster_state_event,
    node_state_event,
    platform_event_record,
)

__all__ = [
    "action_log_event",
    "action_state_event",
    "cluster_state_event",
    "node_state_event",
    "platform_event_record",
]
