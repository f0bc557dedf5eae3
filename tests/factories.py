"""factory-boy factories: one per model, valid by default, related objects created as needed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from advisor.models import Client, ESGPreference, RiskProfile, Role, User
from portfolios.models import (
    Account,
    AccountType,
    AccountValuation,
    Asset,
    AssetClass,
    AuditEvent,
    Household,
    Position,
    PriceBar,
    RealizedLot,
    TaxLot,
    Transaction,
    TransactionKind,
)
from signals.models import NewsItem

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = "Pat"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    role = Role.CLIENT
    is_staff = factory.LazyAttribute(lambda o: o.role == Role.STAFF)
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            obj.save()


class AdvisorUserFactory(UserFactory):
    role = Role.ADVISOR
    username = factory.Sequence(lambda n: f"advisor{n}")


class StaffUserFactory(UserFactory):
    role = Role.STAFF
    username = factory.Sequence(lambda n: f"staff{n}")


class AssetFactory(DjangoModelFactory[Asset]):
    class Meta:
        model = Asset
        django_get_or_create = ("symbol",)

    symbol = factory.Sequence(lambda n: f"AS{n:03d}")
    name = factory.LazyAttribute(lambda o: f"{o.symbol} Fund")
    asset_class = AssetClass.US_EQUITY
    sector = "Broad market"
    esg_score = 60
    exclusion_tags: list[str] = []


class PriceBarFactory(DjangoModelFactory[PriceBar]):
    class Meta:
        model = PriceBar

    asset = factory.SubFactory(AssetFactory)
    date = factory.Sequence(lambda n: dt.date(2024, 1, 1) + dt.timedelta(days=n))
    open = Decimal("100")
    high = Decimal("101")
    low = Decimal("99")
    close = Decimal("100")
    volume = 1_000_000
    source = PriceBar.Source.IMPORT


class HouseholdFactory(DjangoModelFactory[Household]):
    class Meta:
        model = Household

    name = factory.Sequence(lambda n: f"Household {n}")


class AccountFactory(DjangoModelFactory[Account]):
    class Meta:
        model = Account

    household = factory.SubFactory(HouseholdFactory)
    name = factory.Sequence(lambda n: f"Account {n}")
    account_type = AccountType.TAXABLE
    cash = Decimal("10000.00")


class PositionFactory(DjangoModelFactory[Position]):
    class Meta:
        model = Position

    account = factory.SubFactory(AccountFactory)
    asset = factory.SubFactory(AssetFactory)
    quantity = Decimal("10")


class TransactionFactory(DjangoModelFactory[Transaction]):
    class Meta:
        model = Transaction

    account = factory.SubFactory(AccountFactory)
    kind = TransactionKind.BUY
    asset = factory.SubFactory(AssetFactory)
    trade_date = dt.date(2024, 1, 2)
    quantity = Decimal("10")
    price = Decimal("100")
    amount = Decimal("-1000.00")


class TaxLotFactory(DjangoModelFactory[TaxLot]):
    class Meta:
        model = TaxLot

    account = factory.SubFactory(AccountFactory)
    asset = factory.SubFactory(AssetFactory)
    quantity = Decimal("10")
    original_quantity = factory.LazyAttribute(lambda o: o.quantity)
    cost_basis = Decimal("1000.00")
    acquired_on = dt.date(2024, 1, 2)
    holding_period_start = factory.LazyAttribute(lambda o: o.acquired_on)
    acquisition_id = factory.Sequence(lambda n: f"acq{n}")


class RealizedLotFactory(DjangoModelFactory[RealizedLot]):
    class Meta:
        model = RealizedLot

    lot = factory.SubFactory(TaxLotFactory)
    account = factory.LazyAttribute(lambda o: o.lot.account)
    asset = factory.LazyAttribute(lambda o: o.lot.asset)
    sale = factory.SubFactory(
        TransactionFactory,
        account=factory.SelfAttribute("..account"),
        asset=factory.SelfAttribute("..asset"),
        kind=TransactionKind.SELL,
        amount=Decimal("1100.00"),
    )
    quantity = Decimal("10")
    acquisition_id = factory.LazyAttribute(lambda o: o.lot.acquisition_id)
    acquired_on = dt.date(2024, 1, 2)
    holding_period_start = dt.date(2024, 1, 2)
    sold_on = dt.date(2024, 6, 3)
    proceeds = Decimal("1100.00")
    cost_basis = Decimal("1000.00")
    gain = Decimal("100.00")
    term = RealizedLot.Term.SHORT


class AccountValuationFactory(DjangoModelFactory[AccountValuation]):
    class Meta:
        model = AccountValuation

    account = factory.SubFactory(AccountFactory)
    date = factory.Sequence(lambda n: dt.date(2024, 1, 1) + dt.timedelta(days=n))
    market_value = Decimal("5000.00")
    cash = Decimal("100.00")


class AuditEventFactory(DjangoModelFactory[AuditEvent]):
    class Meta:
        model = AuditEvent

    actor = factory.SubFactory(StaffUserFactory)
    action = "risk_limit.changed"
    object_type = "RiskLimit"
    object_id = "1"


class ClientFactory(DjangoModelFactory[Client]):
    class Meta:
        model = Client

    user = factory.SubFactory(UserFactory)
    household = factory.SubFactory(HouseholdFactory)
    advisor = factory.SubFactory(AdvisorUserFactory)
    first_name = "Alex"
    last_name = factory.Sequence(lambda n: f"Client{n}")
    email = factory.LazyAttribute(lambda o: f"{o.last_name.lower()}@example.com")


class RiskProfileFactory(DjangoModelFactory[RiskProfile]):
    class Meta:
        model = RiskProfile

    client = factory.SubFactory(ClientFactory)
    answers = factory.LazyFunction(
        lambda: {
            "drawdown_reaction": "hold",
            "goal": "balanced",
            "outcome_range": "moderate",
            "experience": "some",
            "risk_attitude": "balanced",
            "income_stability": "stable",
            "emergency_fund": "3_to_6",
            "net_worth_share": "25_to_50",
            "near_term_withdrawals": "little",
        }
    )
    willingness_score = 6
    capacity_score = 7
    score = 6
    horizon_years = 15
    goal_amount = Decimal("500000.00")
    equity_weight = Decimal("0.6000")
    bond_weight = Decimal("0.3600")
    cash_weight = Decimal("0.0400")


class ESGPreferenceFactory(DjangoModelFactory[ESGPreference]):
    class Meta:
        model = ESGPreference

    client = factory.SubFactory(ClientFactory)
    min_esg_score = 50
    excluded_categories: list[str] = []


class NewsItemFactory(DjangoModelFactory[NewsItem]):
    class Meta:
        model = NewsItem

    source = "Test Wire"
    headline = factory.Sequence(lambda n: f"Company {n} beats expectations")
    published_at = factory.LazyFunction(timezone.now)
    ingested_at = factory.LazyFunction(timezone.now)
    content_hash = factory.Sequence(lambda n: f"{n:064d}")
