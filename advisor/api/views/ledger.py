"""The ledger: accounts, tax lots, transactions, and importing a transaction history (CSV)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from advisor.api import filters
from advisor.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from advisor.api.pagination import ApiPagination
from advisor.api.permissions import IsAdvisorOrStaff
from advisor.api.scoping import (
    accounts_visible_to,
    household_in_scope,
    lots_visible_to,
    transactions_visible_to,
)
from advisor.api.serializers import (
    AccountSerializer,
    LotSerializer,
    TransactionImportInput,
    TransactionImportResponse,
    TransactionSerializer,
)
from advisor.api.views.base import ApiDefaults, scoped_get
from portfolios.clock import firm_today
from portfolios.core.errors import InvalidInput
from portfolios.models import AccountType, TransactionKind
from portfolios.transaction_import import transaction_file_import

MAX_IMPORT_BYTES = 5 * 1024 * 1024


class AccountList(ApiDefaults, generics.ListAPIView):
    """Accounts of the households you may see."""

    serializer_class = AccountSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.choice_filter("account_type", "Only this account type", AccountType.values),
            filters.bool_filter("active", "Only active (true) or closed (false) accounts"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        accounts = accounts_visible_to(self.request.user).order_by("household_id", "name", "pk")
        household = filters.int_param(self.request, "household")
        if household is not None:
            accounts = accounts.filter(household_id=household)
        kind = filters.choice_param(self.request, "account_type", AccountType.values)
        if kind is not None:
            accounts = accounts.filter(account_type=kind)
        active = filters.bool_param(self.request, "active")
        if active is not None:
            accounts = accounts.filter(is_active=active)
        return accounts


class AccountDetail(ApiDefaults, APIView):
    """One account."""

    @extend_schema(responses=AccountSerializer)
    def get(self, request: Request, pk: int) -> Response:
        account = scoped_get(accounts_visible_to(request.user), pk, "account")
        return Response(AccountSerializer(account).data)


class LotList(ApiDefaults, generics.ListAPIView):
    """Tax lots, oldest first: open and closed, or only open ones (``open=true``)."""

    serializer_class = LotSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.ACCOUNT,
            filters.SYMBOL,
            filters.bool_filter("open", "Only lots with shares left (true) or closed lots (false)"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        lots = lots_visible_to(self.request.user).select_related("asset")
        lots = filters.by_household_and_account(lots, self.request)
        symbol = filters.text_param(self.request, "symbol", max_length=16)
        if symbol:
            lots = lots.filter(asset__symbol=symbol.upper())
        is_open = filters.bool_param(self.request, "open")
        if is_open is not None:
            lots = lots.filter(quantity__gt=0) if is_open else lots.filter(quantity=0)
        return lots.order_by("account_id", "asset_id", "acquired_on", "pk")


class TransactionList(ApiDefaults, generics.ListAPIView):
    """Ledger entries, newest first."""

    serializer_class = TransactionSerializer
    pagination_class = ApiPagination

    @extend_schema(
        parameters=[
            filters.HOUSEHOLD,
            filters.ACCOUNT,
            filters.SYMBOL,
            filters.choice_filter("kind", "Only this kind of entry", TransactionKind.values),
            filters.date_filter("date_from", "Trade date on or after"),
            filters.date_filter("date_to", "Trade date on or before"),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):  # type: ignore[no-untyped-def]
        rows = transactions_visible_to(self.request.user).select_related("asset")
        rows = filters.by_household_and_account(rows, self.request)
        symbol = filters.text_param(self.request, "symbol", max_length=16)
        if symbol:
            rows = rows.filter(asset__symbol=symbol.upper())
        kind = filters.choice_param(self.request, "kind", TransactionKind.values)
        if kind is not None:
            rows = rows.filter(kind=kind)
        date_from = filters.date_param(self.request, "date_from")
        if date_from is not None:
            rows = rows.filter(trade_date__gte=date_from)
        date_to = filters.date_param(self.request, "date_to")
        if date_to is not None:
            rows = rows.filter(trade_date__lte=date_to)
        return rows.order_by("-trade_date", "-pk")


class TransactionImport(ApiDefaults, APIView):
    """Import a household's transaction history from a CSV file (multipart upload), all or
    nothing: any bad row is a 400 listing every bad row with its line number in ``details``, and
    nothing is written. The same file again changes nothing (``already_imported``)."""

    permission_classes = [IsAdvisorOrStaff]
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": TransactionImportInput},
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            201: TransactionImportResponse,
            200: OpenApiResponse(
                TransactionImportResponse, description="This file was imported before"
            ),
        },
    )
    def post(self, request: Request) -> Response:
        return idempotent(request, self, lambda: self._import(request))

    def _import(self, request: Request) -> Response:
        body = TransactionImportInput(data=request.data)
        body.is_valid(raise_exception=True)
        household = household_in_scope(
            user=request.user, household_id=body.validated_data["household"]
        )
        upload = body.validated_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise InvalidInput(
                f"the file is {upload.size} bytes; at most {MAX_IMPORT_BYTES} are accepted",
                field="file",
            )
        result = transaction_file_import(
            content=upload.read(), household_name=household.name, today=firm_today()
        )
        payload = {
            "household": result.household_id,
            "already_imported": result.already_imported,
            "key": result.key,
            "accounts_created": list(result.accounts_created),
            "applied": dict(result.applied),
            "rows_applied": result.rows_applied,
            "funding_deposits": result.funding_deposits,
            "funding_total": f"{result.funding_total:.2f}",
            "realised_lots": result.realised_lots,
            "wash_sales": result.wash_sales,
            "first_date": result.first_date,
            "last_date": result.last_date,
        }
        return Response(
            TransactionImportResponse(payload).data,
            status=status.HTTP_200_OK if result.already_imported else status.HTTP_201_CREATED,
        )
