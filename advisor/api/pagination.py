"""Page-number pagination with a page size the caller may choose (up to 500).

A ``page`` (or ``last``) or ``page_size`` that is not a positive whole number, or a page size above
the maximum, is a 400 naming the parameter, never silently replaced by a default; a page past the
last is a 404, as in DRF.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from advisor.api.filters import whole_number


def _positive_int(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    value = whole_number(raw)
    if value is None or value < 1:
        raise ValidationError({name: [f"must be a whole number from 1, got {raw!r}"]})
    return value


class ApiPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        size = _positive_int(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        if size > self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"must be at most {self.max_page_size}"]}
            )
        return size

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        if request.query_params.get(self.page_query_param) not in self.last_page_strings:
            _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)
