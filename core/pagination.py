"""The Tastypie-style list envelope Docker Cloud clients expect.

`{"meta": {"limit", "offset", "total_count", "next", "previous"}, "objects": [...]}` where `next`
and `previous` are root-relative paths that keep the caller's filters (the Go SDK strips the
first five characters, `/api/`, of `next`).
"""

import hashlib
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

MAX_OFFSET = 2**31 - 1


def _count_key(queryset) -> str | None:
    """The cache key of a queryset's count: its database and SQL with parameters."""
    if not isinstance(queryset, QuerySet):
        return None
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    digest = hashlib.sha256(f"{queryset.db}\0{sql}\0{params!r}".encode()).hexdigest()
    return f"dc:list-count:{digest}"


class EnvelopePagination(LimitOffsetPagination):
    """`limit` (1 to 1000, default 25) and `offset` (0 or more) are checked: a bad value, or
    the same parameter twice, is a 400 naming it, never silently replaced by a default."""

    default_limit: int = 25
    max_limit: int = 1000
    # Set by `paginate_queryset` before any link or answer is made; never None here, as
    # `get_limit` always answers a number.
    request: Request
    limit: int
    offset: int
    count: int
    more: bool  # a row after this page exists (read with the page, never from the count)
    _count_key: str | None = None

    def get_count(self, queryset) -> int:
        """Exact below DC_LIST_COUNT_CACHE_MIN rows; past it, counting every page of a large
        fleet costs more than the page itself, so the count is kept DC_LIST_COUNT_CACHE_SECONDS
        (`total_count` may lag by that much; `next` never does: see paginate_queryset)."""
        key = self._count_key = _count_key(queryset)
        if key is not None and (cached := cache.get(key)) is not None:
            return cached
        count = super().get_count(queryset)
        if key is not None and count >= settings.DC_LIST_COUNT_CACHE_MIN:
            cache.set(key, count, settings.DC_LIST_COUNT_CACHE_SECONDS)
        return count

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        self.count = self.get_count(queryset)
        rows = list(queryset[self.offset : self.offset + self.limit + 1])
        self.more = len(rows) > self.limit
        page = rows[: self.limit]
        seen = self.offset + len(page) + int(self.more) if page else 0
        if seen > self.count:  # a kept count is behind what this read saw: count again next
            self.count = seen
            if self._count_key is not None:
                cache.delete(self._count_key)
        return page

    def _number(self, request, name: str, default: int, low: int, high: int) -> int:
        values = request.query_params.getlist(name)
        if not values:
            return default
        message = f"Give a whole number from {low} to {high}, once."
        text = values[0]
        if len(values) > 1 or len(text) > 10 or not (text.isascii() and text.isdigit()):
            raise serializers.ValidationError({name: [message]})
        number = int(text)
        if not low <= number <= high:
            raise serializers.ValidationError({name: [message]})
        return number

    def get_limit(self, request) -> int:
        return self._number(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request) -> int:
        return self._number(request, self.offset_query_param, 0, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": 25},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters

    def _link(self, offset: int) -> str:
        params: list[tuple[str, str | int]] = [
            (name, value)
            for name, values in self.request.query_params.lists()
            if name not in ("limit", "offset")
            for value in values
        ]
        params += [("limit", self.limit), ("offset", offset)]
        return f"{self.request.path}?{urlencode(params)}"

    def get_next_link(self):
        if not self.more:
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
