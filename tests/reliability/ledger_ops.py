"""Cash entries the ledger has no public service for yet: a withdrawal and a dividend.

They follow ``portfolios.transaction_import._cash_entry`` (the only writer of these kinds
today): the account row is locked, the entry is written with its signed amount (negative for a
withdrawal, positive for a dividend, as the Transaction model's constraints require), the cash
moves by the same amount, and a withdrawal never takes the cash below zero.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from portfolios.core.errors import InvalidInput
from portfolios.core.money import cash
from portfolios.models import Account, Asset, Transaction, TransactionKind


def cash_withdraw(
    *, account: Account, amount: Decimal, on: dt.date, external_id: str | None = None
) -> Transaction:
    value = cash(amount)
    if value <= 0:
        raise InvalidInput(f"a withdrawal must be positive, got {value}", field="amount")
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if value > locked.cash:
            raise InvalidInput(
                f"withdrawing {value} leaves a negative balance: the account has {locked.cash}",
                field="amount",
            )
        row = Transaction.objects.create(
            account=locked,
            kind=TransactionKind.WITHDRAWAL,
            trade_date=on,
            amount=-value,
            external_id=external_id,
            description="Withdrawal",
        )
        Account.objects.filter(pk=locked.pk).update(cash=F("cash") - value)
    return row


def dividend_record(
    *, account: Account, asset: Asset, amount: Decimal, on: dt.date, external_id: str | None = None
) -> Transaction:
    value = cash(amount)
    if value <= 0:
        raise InvalidInput(f"a dividend must be positive, got {value}", field="amount")
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        row = Transaction.objects.create(
            account=locked,
            kind=TransactionKind.DIVIDEND,
            asset=asset,
            trade_date=on,
            amount=value,
            external_id=external_id,
            description=f"Dividend {asset.symbol}",
        )
        Account.objects.filter(pk=locked.pk).update(cash=F("cash") + value)
    return row
