"""A stateful property test of the ledger: any sequence of deposits, buys, sells, broker fills
(and their replays), dividends and withdrawals keeps the invariants of DESIGN.md.

After every step:
* per account and asset, the open lots' quantities sum to the position;
* cash is never negative, and equals the sum of the account's ledger entries;
* money has 2 decimal places, quantities 9;
* per realised lot, the reported gain less the disallowed loss is proceeds less basis, and the
  realised quantities of a sale add up to the sale's quantity;
* replaying an external id changes nothing.
Refused operations (buying beyond the cash, selling more than is held, withdrawing too much)
raise InvalidInput and leave everything as it was.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from portfolios.core.errors import InvalidInput
from portfolios.ledger import trade_apply
from portfolios.models import (
    Account,
    AccountType,
    Position,
    RealizedLot,
    TaxLot,
    Transaction,
)
from portfolios.services import cash_deposit
from tests.factories import AccountFactory, AssetFactory, HouseholdFactory
from tests.reliability.ledger_ops import cash_withdraw, dividend_record

pytestmark = pytest.mark.django_db

CENT = Decimal("0.01")
NANO = Decimal("0.000000001")
START = dt.date(2024, 1, 2)

amounts = st.integers(min_value=1, max_value=2_000_000).map(lambda c: Decimal(c) * CENT)
prices = st.integers(
    min_value=5_000, max_value=15_000
)  # $50-$150: gains and losses.map(lambda c: Decimal(c) * CENT)
fees = st.sampled_from([Decimal("0"), Decimal("1.00"), Decimal("4.95")])


def snapshot() -> tuple:
    return (
        tuple(Account.objects.order_by("pk").values_list("pk", "cash")),
        Transaction.objects.count(),
        tuple(TaxLot.objects.order_by("pk").values_list("pk", "quantity", "cost_basis")),
        RealizedLot.objects.count(),
        tuple(Position.objects.order_by("pk").values_list("pk", "quantity")),
    )


class LedgerMachine(RuleBasedStateMachine):
    fills = Bundle("fills")

    def __init__(self) -> None:
        super().__init__()
        self.savepoint = transaction.savepoint()
        self.day = START
        self.counter = 0

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    @initialize()
    def books(self) -> None:
        household = HouseholdFactory()
        self.accounts: list[Any] = [
            AccountFactory(
                household=household, account_type=AccountType.TAXABLE, cash=Decimal("0")
            ),
            AccountFactory(household=household, account_type=AccountType.IRA, cash=Decimal("0")),
        ]
        for account in self.accounts:
            cash_deposit(account=account, amount=Decimal("50000.00"), on=START)
        # two substantially identical funds (wash sales across them) and a third
        self.assets: list[Any] = [
            AssetFactory(symbol=f"SM{n}", identity_group="sm-index" if n < 2 else "")
            for n in range(3)
        ]

    def _next_day(self, days: int) -> dt.date:
        self.day += dt.timedelta(days=days)
        return self.day

    def _refused(self, action) -> None:
        before = snapshot()
        with pytest.raises(InvalidInput), transaction.atomic():
            action()
        assert snapshot() == before

    @rule(account=st.integers(0, 1), amount=amounts, days=st.integers(0, 5))
    def deposit(self, account: int, amount: Decimal, days: int) -> None:
        cash_deposit(account=self.accounts[account], amount=amount, on=self._next_day(days))

    @rule(account=st.integers(0, 1), share=st.floats(0.01, 1.5), days=st.integers(0, 5))
    def withdraw(self, account: int, share: float, days: int) -> None:
        balance = Account.objects.get(pk=self.accounts[account].pk).cash
        amount = (balance * Decimal(str(share))).quantize(CENT)
        on = self._next_day(days)
        if amount <= 0:
            return
        if amount > balance:
            self._refused(
                lambda: cash_withdraw(account=self.accounts[account], amount=amount, on=on)
            )
        else:
            cash_withdraw(account=self.accounts[account], amount=amount, on=on)

    @rule(
        account=st.integers(0, 1),
        asset=st.integers(0, 2),
        share=st.floats(0.02, 1.2),
        price=prices,
        fee=fees,
        days=st.integers(0, 20),
    )
    def buy(self, account, asset, share, price, fee, days) -> None:
        """Spend a share of the account's cash; more than all of it is refused."""
        on = self._next_day(days)
        cash_before = Account.objects.get(pk=self.accounts[account].pk).cash
        quantity = (cash_before * Decimal(str(share)) / price).quantize(NANO, rounding=ROUND_DOWN)
        if quantity <= 0:
            return
        cost = (quantity * price + fee).quantize(CENT)

        def apply():
            return trade_apply(
                account_id=self.accounts[account].pk,
                symbol=self.assets[asset].symbol,
                side="buy",
                quantity=quantity,
                price=price,
                fees=fee,
                trade_date=on,
            )

        if cost > cash_before:
            self._refused(apply)
        else:
            apply()

    def _held(self) -> list[tuple[int, int]]:
        """(account index, asset index) pairs with open lots."""
        pairs = set(
            TaxLot.objects.filter(account__in=self.accounts, quantity__gt=0).values_list(
                "account_id", "asset_id"
            )
        )
        return [
            (a, b)
            for a, account in enumerate(self.accounts)
            for b, asset in enumerate(self.assets)
            if (account.pk, asset.pk) in pairs
        ]

    @rule(
        data=st.data(),
        share=st.floats(0.05, 1.3),
        price=prices,
        fee=fees,
        days=st.integers(0, 20),
    )
    def sell(self, data, share, price, fee, days) -> None:
        """Sell a share of a holding (any method's lots); more than is held is refused."""
        held_pairs = self._held()
        if not held_pairs:
            return
        account, asset = data.draw(st.sampled_from(held_pairs))
        on = self._next_day(days)
        held = TaxLot.objects.filter(
            account=self.accounts[account], asset=self.assets[asset], quantity__gt=0
        ).aggregate(total=Sum("quantity"))["total"]
        quantity = (held * Decimal(str(share))).quantize(NANO)
        if quantity <= 0:
            return

        def apply():
            return trade_apply(
                account_id=self.accounts[account].pk,
                symbol=self.assets[asset].symbol,
                side="sell",
                quantity=quantity,
                price=price,
                fees=fee,
                trade_date=on,
            )

        if quantity > held or quantity * price < fee:
            self._refused(apply)
        else:
            apply()

    @rule(
        target=fills,
        account=st.integers(0, 1),
        asset=st.integers(0, 2),
        share=st.floats(0.02, 0.9),
        price=prices,
        days=st.integers(0, 10),
    )
    def broker_fill(self, account, asset, share, price, days):
        """A fill of a buy order, booked under its execution id (as trading's fill_apply does)."""
        on = self._next_day(days)
        self.counter += 1
        external_id = f"fill:exec-{self.counter}"
        cash_now = Account.objects.get(pk=self.accounts[account].pk).cash
        quantity = (cash_now * Decimal(str(share)) / price).quantize(NANO, rounding=ROUND_DOWN)
        if quantity <= 0:
            return None
        call = {
            "account_id": self.accounts[account].pk,
            "symbol": self.assets[asset].symbol,
            "side": "buy",
            "quantity": quantity,
            "price": price,
            "trade_date": on,
            "executed_at": dt.datetime.combine(on, dt.time(15), tzinfo=dt.UTC),
            "external_id": external_id,
        }
        result = trade_apply(**call)
        assert result.created
        return call

    @rule(call=fills)
    def replay_fill(self, call) -> None:
        if call is None:
            return
        before = snapshot()
        result = trade_apply(**{**call, "trade_date": self.day})
        assert result.created is False
        assert snapshot() == before

    @rule(
        account=st.integers(0, 1), asset=st.integers(0, 2), amount=amounts, days=st.integers(0, 5)
    )
    def dividend(self, account, asset, amount, days) -> None:
        dividend_record(
            account=self.accounts[account],
            asset=self.assets[asset],
            amount=amount,
            on=self._next_day(days),
        )

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def lots_sum_to_positions(self) -> None:
        if not hasattr(self, "accounts"):
            return
        lots = {
            (row["account_id"], row["asset_id"]): row["total"]
            for row in TaxLot.objects.filter(account__in=self.accounts, quantity__gt=0)
            .values("account_id", "asset_id")
            .annotate(total=Sum("quantity"))
        }
        positions = {
            (p.account_id, p.asset_id): p.quantity
            for p in Position.objects.filter(account__in=self.accounts)
        }
        for key in set(lots) | set(positions):
            assert lots.get(key, Decimal("0")) == positions.get(key, Decimal("0")), key

    @invariant()
    def cash_is_never_negative_and_is_the_ledgers_sum(self) -> None:
        if not hasattr(self, "accounts"):
            return
        for account in Account.objects.filter(pk__in=[a.pk for a in self.accounts]):
            assert account.cash >= 0
            total = Transaction.objects.filter(account=account).aggregate(s=Sum("amount"))["s"]
            assert account.cash == (total or Decimal("0.00"))
            assert account.cash.as_tuple().exponent == -2

    @invariant()
    def money_and_quantities_have_their_places(self) -> None:
        if not hasattr(self, "accounts"):
            return
        for txn in Transaction.objects.filter(account__in=self.accounts):
            assert txn.amount.as_tuple().exponent == -2 and txn.fees.as_tuple().exponent == -2
            if txn.quantity is not None:
                assert txn.quantity.as_tuple().exponent == -9
        for lot in TaxLot.objects.filter(account__in=self.accounts):
            assert lot.quantity.as_tuple().exponent == -9
            assert lot.cost_basis.as_tuple().exponent == -2
            assert Decimal("0") <= lot.quantity <= lot.original_quantity
            assert lot.cost_basis >= 0

    @invariant()
    def realised_gains_add_up(self) -> None:
        if not hasattr(self, "accounts"):
            return
        sold: dict[int, Decimal] = {}
        for row in RealizedLot.objects.filter(account__in=self.accounts):
            # reported gain (h) = proceeds - basis + disallowed loss (g)
            assert row.gain - row.adjustment_amount == row.proceeds - row.cost_basis, row.pk
            assert Decimal("0") <= row.washed_quantity <= row.quantity
            sold[row.sale_id] = sold.get(row.sale_id, Decimal("0")) + row.quantity
        for sale_id, quantity in sold.items():
            assert Transaction.objects.get(pk=sale_id).quantity == quantity


def test_the_ledger_keeps_its_invariants_under_any_sequence_of_operations():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
