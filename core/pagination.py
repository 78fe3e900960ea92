"""The Tastypie-style list envelope Docker Cloud clients expect.

`{"meta": {"limit", "offset", "total_count", "next", "previous"}, "objects": [...]}` where `next`
and `previous` are root-relative paths that keep the caller's filters (the Go SDK strips the
first five characters, `/api/`, of `next`).
"""

from urllib.parse import urlencode

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response


class EnvelopePagination(LimitOffsetPagination):
    default_limit = 25
    max_limit = 1000

    def _link(self, offset: int) -> str:
        params = [(k, v) for k, v in self.request.query_params.lists() for v in v]
        params = [(k, v) for k, v in params if k not in ("limit", "offset")]
        params += [("limit", self.limit), ("offset", offset)]
        return f"{self.request.path}?{urlencode(params)}"

    def get_next_link(self):
        if self.offset + self.limit >= self.count:
            return None
        return self._link(self.offset + self.limit)

    def get_previous_link(self):
        if self.offset <= 0:
            return None
        return self._link(max(self.offset - self.limit, 0))

    def get_paginated_response(self, data):
        meta = {
            "limit": self.limit,
            "next": self.get_next_link(),
            "offset": self.offset,
            "previous": self.get_previous_link(),
            "total_count": self.count,
        }
        return Response({"meta": meta, "objects": data})

    def get_paginated_response_schema(self, schema):
        nullable = {"type": "string", "nullable": True}
        meta = {
            "type": "object",
            "properties": {
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "total_count": {"type": "integer"},
                "next": nullable,
                "previous": nullable,
            },
        }
        return {"type": "object", "properties": {"meta": meta, "objects": schema}}
