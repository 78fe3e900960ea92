"""Live messages: the plumbing every app's websockets share, and no models.

    groups.py     channel-layer group names, from one place
    payloads.py   the messages' shapes (TypedDicts with a Literal type)
    emit.py       the one way sync code sends: after the transaction commits
    layer.py      the events' channel layer (Redis pub/sub, batched sends)
    scope.py      what a handshake carries: headers, query, whether it is same-origin
    consumers.py  what every socket for people shares: direct dispatch, bounded input,
                  closing when its credential dies

It sits beside `core` below every app: apps import it, it imports no app.
"""
