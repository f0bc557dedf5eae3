"""Database constraints hold what must always be true; every model has a working factory."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from tests import factories

pytestmark = pytest.mark.django_db

ALL_FACTORIES = [
    factories.UserFactory,
    factories.AdvisorUserFactory,
    factories.StaffUserFactory,
    factories.AssetFactory,
    factories.PriceBarFactory,
    factories.HouseholdFactory,
    factories.AccountFactory,
    factories.PositionFactory,
    factories.TransactionFactory,
    factories.TaxLotFactory,
    factories.RealizedLotFactory,
    factories.AccountValuationFactory,
    factories.AuditEventFactory,
    factories.ClientFactory,
    factories.RiskProfileFactory,
    factories.ESGPreferenceFactory,
    factories.NewsItemFactory,
]


@pytest.mark.parametrize("factory", ALL_FACTORIES, ids=lambda f: f.__name__)
def test_every_factory_builds_a_valid_row(factory):
    obj = factory()
    obj.full_clean()
    assert obj.pk


@pytest.mark.parametrize(
    ("factory", "fields"),
    [
        (factories.PositionFactory, {"quantity": Decimal("-1")}),
        (factories.TaxLotFactory, {"quantity": Decimal("-1")}),
        (factories.TaxLotFactory, {"quantity": Decimal("11"), "original_quantity": Decimal("10")}),
        (factories.AccountFactory, {"cash": Decimal("-0.01")}),
        (factories.PriceBarFactory, {"close": Decimal("0")}),
        (factories.PriceBarFactory, {"low": Decimal("102"), "high": Decimal("101")}),
        (factories.TransactionFactory, {"quantity": Decimal("0")}),
        (
            factories.TransactionFactory,
            {
                "kind": "deposit",
                "asset": None,
                "quantity": None,
                "price": None,
                "amount": Decimal("-5"),
            },
        ),
        (factories.AssetFactory, {"esg_score": 101}),
        (factories.RiskProfileFactory, {"score": 11}),
        (factories.HouseholdFactory, {"short_term_rate": Decimal("1.5")}),
        (factories.StaffUserFactory, {"is_staff": False}),
    ],
)
def test_constraints_reject_impossible_rows(factory, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        factory(**fields)


def test_uniqueness():
    bar = factories.PriceBarFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.PriceBarFactory(asset=bar.asset, date=bar.date)
    position = factories.PositionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.PositionFactory(account=position.account, asset=position.asset)
    txn = factories.TransactionFactory(external_id="fill-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.TransactionFactory(account=txn.account, external_id="fill-1")
