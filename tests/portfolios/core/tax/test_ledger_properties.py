"""Property tests of the household replay: positions, proceeds, wash sales and basis add up."""

import datetime as dt
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolios.core.tax import (
    AccountSpec,
    AccountType,
    Buy,
    LotMethod,
    PendingPurchase,
    Sell,
    close_lots,
    find_wash_sales,
    open_lot,
    replay_household,
)
from portfolios.core.tax.lots import purchase_cost, sale_proceeds

D = Decimal
ACCOUNTS = [
    AccountSpec("T1", AccountType.TAXABLE, LotMethod.FIFO),
    AccountSpec("T2", AccountType.TAXABLE, LotMethod.HIFO),
    AccountSpec("IRA", AccountType.IRA, LotMethod.FIFO),
]
SYMBOLS = ["A", "B", "C"]
IDENTITY = {"A": "ab", "B": "ab"}
START = dt.date(2022, 1, 3)

prices = st.decimals(min_value=D("1.00"), max_value=D("200.00"), places=2)
quantities = st.decimals(min_value=D("0.001"), max_value=D("500"), places=3)
fees = st.sampled_from([D(0), D(0), D("0.99"), D("4.95")])


@st.composite
def households(draw):
    """A valid history: buys and sells that never sell more than is held, plus pending orders."""
    transactions = []
    held = defaultdict(lambda: D(0))
    on = START
    for number in range(draw(st.integers(min_value=1, max_value=25))):
        on += dt.timedelta(days=draw(st.integers(min_value=0, max_value=40)))
        account = draw(st.sampled_from([spec.account_id for spec in ACCOUNTS]))
        symbol = draw(st.sampled_from(SYMBOLS))
        position = held[account, symbol]
        if position > 0 and draw(st.booleans()):
            share = draw(st.sampled_from([D(1), D("0.5"), D("0.3333"), D("0.9")]))
            quantity = (position * share).quantize(D("0.000000001"), rounding=ROUND_DOWN)
            if quantity <= 0:
                continue
            price = draw(prices)
            fee = draw(fees)
            if fee >= quantity * price:
                fee = D(0)
            method = draw(st.sampled_from([None, LotMethod.TAX_MINIMISING, LotMethod.HIFO]))
            transactions.append(
                Sell(f"s{number}", account, symbol, on, quantity, price, fee, method=method)
            )
            held[account, symbol] -= quantity
        else:
            quantity = draw(quantities)
            transactions.append(
                Buy(f"b{number}", account, symbol, on, quantity, draw(prices), draw(fees))
            )
            held[account, symbol] += quantity
    pending = [
        PendingPurchase(
            f"o{number}",
            draw(st.sampled_from([spec.account_id for spec in ACCOUNTS])),
            draw(st.sampled_from(SYMBOLS)),
            draw(quantities),
            on + dt.timedelta(days=draw(st.integers(min_value=0, max_value=10))),
        )
        for number in range(draw(st.integers(min_value=0, max_value=2)))
    ]
    return transactions, pending, dict(held)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(households())
def test_replay_invariants(history):
    transactions, pending, held = history
    ledger = replay_household(
        transactions, accounts=ACCOUNTS, identity_groups=IDENTITY, pending_purchases=pending
    )

    # Per account and asset, the open lots' quantities sum to the position.
    for (account, symbol), quantity in held.items():
        assert ledger.position(account, symbol) == quantity
    assert all(lot.quantity > 0 and lot.cost_basis >= 0 for lot in ledger.open_lots)

    # Each sale: its rows' proceeds are its net proceeds to the cent, and proceeds minus basis
    # is the reported gain or loss plus the disallowed (negative) loss.
    rows_of = defaultdict(list)
    for row in ledger.realised:
        rows_of[row.sale_id].append(row)
    for txn in transactions:
        if isinstance(txn, Sell):
            rows = rows_of[txn.transaction_id]
            assert sum(row.quantity for row in rows) == txn.quantity
            assert sum(row.proceeds for row in rows) == sale_proceeds(
                txn.quantity, txn.price, txn.fees
            )
            assert sum(row.proceeds - row.cost_basis for row in rows) == sum(
                row.gain_or_loss - row.adjustment for row in rows
            )

    # Wash sales: only losses in taxable accounts, never more than the loss, each row's
    # adjustment is the sum of its wash sales, and a fully washed loss is disallowed to the cent.
    disallowed_of = defaultdict(lambda: D(0))
    washed_of = defaultdict(lambda: D(0))
    for wash in ledger.wash_sales:
        disallowed_of[wash.record_id] += wash.disallowed_loss
        washed_of[wash.record_id] += wash.quantity
        assert wash.quantity > 0
    for row in ledger.realised:
        assert row.adjustment == disallowed_of[row.record_id]
        assert row.washed_quantity == washed_of[row.record_id]
        assert 0 <= row.adjustment <= row.loss
        assert row.washed_quantity <= row.quantity
        if not row.reportable or row.loss == 0:
            assert row.adjustment == 0
        if row.washed_quantity == row.quantity:
            assert row.adjustment == row.loss

    # A share replaces at most one loss.
    used = defaultdict(lambda: D(0))
    for wash in ledger.wash_sales:
        used[wash.replacement_acquisition_id] += wash.quantity
    bought = {txn.transaction_id: txn.quantity for txn in transactions if isinstance(txn, Buy)}
    bought.update({order.order_id: order.quantity for order in pending})
    for acquisition, quantity in used.items():
        assert quantity <= bought[acquisition]
    for order in ledger.pending_purchases:
        assert order.replacement_quantity_used == used.get(order.order_id, D(0))

    # Basis is conserved: what was paid plus the losses added to lots is in open or closed lots.
    paid = sum(
        (
            purchase_cost(txn.quantity, txn.price, txn.fees)
            for txn in transactions
            if isinstance(txn, Buy)
        ),
        D(0),
    )
    added = sum(
        (w.disallowed_loss for w in ledger.wash_sales if not w.permanent and not w.pending), D(0)
    )
    open_basis = sum((lot.cost_basis for lot in ledger.open_lots), D(0))
    closed_basis = sum((row.cost_basis for row in ledger.realised), D(0))
    assert paid + added == open_basis + closed_basis
    assert sum((lot.wash_sale_adjustment for lot in ledger.open_lots), D(0)) <= added


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(households())
def test_fill_by_fill_application_gives_the_same_books(history):
    """The live path (open_lot / close_lots / find_wash_sales per fill) equals the replay."""
    transactions, pending, _ = history
    ledger = replay_household(
        transactions, accounts=ACCOUNTS, identity_groups=IDENTITY, pending_purchases=pending
    )
    types = {spec.account_id: spec.account_type for spec in ACCOUNTS}
    methods = {spec.account_id: spec.lot_method for spec in ACCOUNTS}
    lots, realised, events = [], [], []
    for txn in sorted(transactions, key=lambda txn: txn.trade_date):
        if isinstance(txn, Buy):
            lot = open_lot(
                lot_id=txn.transaction_id,
                account_id=txn.account_id,
                symbol=txn.symbol,
                quantity=txn.quantity,
                price=txn.price,
                acquired_on=txn.trade_date,
                fees=txn.fees,
            )
            outcome = find_wash_sales(
                account_types=types, identity_groups=IDENTITY, realised=realised, purchase=lot
            )
            lots.extend(outcome.lots)
            realised = list(outcome.realised)
        else:
            here = (txn.account_id, txn.symbol)
            mine = [lot for lot in lots if (lot.account_id, lot.symbol) == here]
            others = [lot for lot in lots if (lot.account_id, lot.symbol) != here]
            closing = close_lots(
                mine,
                quantity=txn.quantity,
                sale_price=txn.price,
                sale_date=txn.trade_date,
                method=txn.method or methods[txn.account_id],
                fees=txn.fees,
                sale_id=txn.transaction_id,
                reportable=not types[txn.account_id].is_tax_advantaged,
            )
            outcome = find_wash_sales(
                account_types=types,
                identity_groups=IDENTITY,
                household_lots=[*others, *closing.remaining],
                sale=closing.closures,
            )
            lots = list(outcome.lots)
            realised.extend(outcome.realised)
        events.extend(outcome.wash_sales)
    for order in sorted(pending, key=lambda order: order.expected_on):
        outcome = find_wash_sales(
            account_types=types, identity_groups=IDENTITY, realised=realised, purchase=order
        )
        realised = list(outcome.realised)
        events.extend(outcome.wash_sales)
    assert realised == list(ledger.realised)
    assert events == list(ledger.wash_sales)
    assert sorted(lots, key=lambda lot: lot.lot_id) == sorted(
        ledger.open_lots, key=lambda lot: lot.lot_id
    )
