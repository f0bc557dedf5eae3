"""Two households side by side (A and B), each with a client login and an advisor, one staff
user, and one of everything the API exposes in each household: the data the authorisation
matrix and the endpoint tests use."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from advisor.models import User
from integrations.models import WebhookDelivery, WebhookEndpoint
from portfolios.models import (
    Account,
    Household,
    PriceBar,
    ProposalTrade,
    RebalanceProposal,
    Recommendation,
    TaxLot,
    Transaction,
)
from portfolios.services import holding_transfer_in
from signals.models import DetectedSignal
from tests.factories import (
    AccountFactory,
    AssetFactory,
    ESGPreferenceFactory,
    RiskProfileFactory,
    StaffUserFactory,
)
from trading.models import Fill, Order, PreTradeCheck

D = Decimal
NOW = dt.datetime(2025, 7, 1, 15, 0, tzinfo=dt.UTC)


def random_address() -> str:
    """A client address of its own per test: per-address limits never leak between tests."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def api_client(user: User | None = None) -> APIClient:
    client = APIClient(REMOTE_ADDR=random_address())
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@dataclass
class Side:
    """One household's objects."""

    household: Household
    client: Any
    user: User
    advisor: User
    account: Account
    lot: TaxLot
    transaction: Transaction
    recommendation: Recommendation
    proposal: RebalanceProposal
    order: Order
    fill: Fill
    webhook: WebhookEndpoint
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    a: Side
    b: Side
    staff: User

    def users(self) -> dict[str, User | None]:
        return {
            "anonymous": None,
            "client": self.a.user,
            "other_client": self.b.user,
            "advisor": self.a.advisor,
            "other_advisor": self.b.advisor,
            "staff": self.staff,
        }


def _side(tag: str, asset: Any) -> Side:
    profile: Any = RiskProfileFactory(
        client__household__name=f"Household {tag} {random.randrange(10**9)}",
        score=6,
        equity_weight=D("0.60"),
        bond_weight=D("0.36"),
        cash_weight=D("0.04"),
    )
    client = profile.client
    ESGPreferenceFactory(client=client, min_esg_score=0)
    household = client.household
    account: Any = AccountFactory(household=household, name=f"Brokerage {tag}", cash=D("5000.00"))
    lot = holding_transfer_in(
        account=account,
        asset=asset,
        quantity_=D("10"),
        cost_basis=D("900"),
        acquired_on=dt.date(2024, 1, 2),
    )
    transaction = Transaction.objects.get(pk=lot.opened_by_id or 0)
    recommendation = Recommendation.objects.create(
        household=household,
        risk_score=6,
        method="mean_variance_equilibrium",
        weights={asset.symbol: 1.0},
        expected_return=0.06,
        volatility=0.12,
        explanation=["A test recommendation."],
        is_current=True,
    )
    proposal = RebalanceProposal.objects.create(
        account=account,
        recommendation=recommendation,
        reason="drift",
        total_value=D("5950.00"),
        drift_before=0.2,
        drift_after=0.01,
        target_weights={asset.symbol: 1.0},
        weights_before={asset.symbol: 0.16},
        weights_after={asset.symbol: 0.99},
        prices={asset.symbol: "95.000000"},
        priced_at=NOW,
    )
    ProposalTrade.objects.create(
        proposal=proposal,
        sequence=1,
        asset=asset,
        side="buy",
        quantity=D("50"),
        estimated_price=D("95"),
        notional=D("4750.00"),
    )
    order = Order.objects.create(
        account=account,
        asset=asset,
        side="buy",
        quantity=D("5"),
        client_order_id=f"test-{tag}-{random.randrange(10**9)}",
        status="filled",
        filled_quantity=D("5"),
    )
    PreTradeCheck.objects.create(
        order=order,
        check_name="max_position_weight",
        outcome="pass",
        message="within the limit",
        limits_version=1,
        checked_at=NOW,
    )
    fill = Fill.objects.create(
        order=order,
        execution_id=f"exec-{order.client_order_id}",
        quantity=D("5"),
        price=D("95"),
        executed_at=NOW,
    )
    webhook = WebhookEndpoint.objects.create(
        owner=client.advisor,
        url=f"https://hooks.example.com/{tag}",
        secret="s" * 40,
        events=["proposal.created"],
    )
    WebhookDelivery.objects.create(
        endpoint=webhook, event="proposal.created", household_id=household.pk, body="{}"
    )
    return Side(
        household=household,
        client=client,
        user=client.user,
        advisor=client.advisor,
        account=account,
        lot=lot,
        transaction=transaction,
        recommendation=recommendation,
        proposal=proposal,
        order=order,
        fill=fill,
        webhook=webhook,
    )


def build_world() -> World:
    asset: Any = AssetFactory(symbol="WRLD", name="World Fund")
    PriceBar.objects.create(
        asset=asset,
        date=dt.date(2025, 6, 30),
        open=D("95"),
        high=D("95"),
        low=D("95"),
        close=D("95"),
        volume=1000,
    )
    DetectedSignal.objects.create(
        asset=asset,
        kind="mean_reversion",
        value=-1.5,
        confidence=0.6,
        as_of=NOW,
        window_start=NOW - dt.timedelta(days=30),
        window_end=NOW,
    )
    staff: Any = StaffUserFactory()
    return World(a=_side("A", asset), b=_side("B", asset), staff=staff)


def transactions_csv(symbol: str = "WRLD") -> bytes:
    today = timezone.localdate()
    day = (today - dt.timedelta(days=10)).isoformat()
    return (
        "date,account,account_type,symbol,side,quantity,price,fees,lot_id,amount\n"
        f"{day},Imported,taxable,,deposit,,,,,1000\n"
        f"{day},Imported,,{symbol},buy,2,95,,,\n"
    ).encode()
