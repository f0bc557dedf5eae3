"""Import a household's transaction history from a CSV file: all of it, or nothing.

The file
--------
One header row (line 1), then one transaction per row. Column names are case-insensitive; their
order is free.

=============  ========  ===============================================================
column         needed    meaning
=============  ========  ===============================================================
date           always    trade date, ``YYYY-MM-DD``; from 1900-01-01, not after today
account        always    the account's name within the household
side           always    ``buy``, ``sell``, ``deposit``, ``withdrawal`` or ``dividend``
symbol         always    ticker of a known asset (buy, sell, dividend); empty for cash rows
quantity       always    shares, positive, at most 9 decimal places (buy, sell; else empty)
price          always    price per share, positive, at most 6 places (buy, sell; else empty)
account_type   optional  ``taxable``, ``ira`` or ``roth``: required on at least one row of an
                         account the household does not have yet; must match an existing one
fees           optional  commissions, at most 2 places (buy, sell; empty means 0)
lot_id         optional  on a sell: the lots to sell (specific identification), see below
amount         optional  cash amount, positive, 2 places: required on deposit, withdrawal and
                         dividend rows; on a buy or sell, if given, it must equal
                         quantity x price + fees (buy) or quantity x price - fees (sell),
                         its sign ignored (exports often show buys as negative amounts)
=============  ========  ===============================================================

Unknown columns are refused (a misspelt ``lotid`` would otherwise be ignored silently).

``lot_id`` names one or more lots separated by ``;``, in the order to sell them (the last may
be sold in part): ``line:N`` is the lot that the ``buy`` row on line ``N`` of the same file opened
(same account and symbol, applied before the sale); a plain number is the id of a lot the
household already holds. A reference means the shares of that purchase, including parts a wash
sale split off. A sell without ``lot_id`` uses the account's lot method (FIFO for new accounts).

Checks
------
Every row is checked before anything is written, and every problem is reported with its line
number: malformed dates and numbers, dates in the future or before 1900, unknown sides, account
types and symbols, non-positive quantities, prices and amounts, and the whole file simulated in the
order it will be applied, per account and symbol, starting from the household's current holdings
and cash: selling more than is held on the sale date, naming a lot that does not exist, belongs to
another account or symbol, is bought after the sale or has no shares left, and withdrawing more
cash than the account has. When a row cannot be read, the holdings checks of its account and symbol
(and the cash checks of its account) are left out until it is fixed, so one typo does not produce a
cascade of false errors.

Applying
--------
In one database transaction, in date order (file order within a day): the household and any new
accounts are created, buys and sells go through :func:`portfolios.ledger.trade_apply` (lots, wash
sales across all of the household's accounts, positions, cash), deposits through
:func:`portfolios.services.cash_deposit`, withdrawals and dividends as ledger entries.

A brokerage history usually leaves out the transfers that paid for its buys, so a buy that costs
more than the account's cash at that point is funded by an implied deposit of the shortfall on the
same date, labelled ``"Funding for imported trades"``; the account never goes negative and the
funding is visible in its history.

Every written entry carries an ``external_id`` of ``import:<key>:<line>`` (``:funding`` for an
implied deposit), where ``<key>`` is derived from the SHA-256 of the household's name and the
file's bytes: importing the same file into the same household again changes nothing and says so.
A file that differs in any byte is a new import.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from portfolios.core import tax
from portfolios.core.errors import DomainError, InvalidInput
from portfolios.core.money import ZERO, to_decimal
from portfolios.core.tax.lots import purchase_cost, sale_proceeds
from portfolios.ledger import (
    EARLIEST_TRADE_DATE,
    TradeResult,
    core_lot,
    household_rates,
    lot_method,
    trade_apply,
)
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    Household,
    LotMethod,
    TaxLot,
    Transaction,
    TransactionKind,
)
from portfolios.services import cash_deposit

SIDES = ("buy", "sell", "deposit", "withdrawal", "dividend")
TRADE_SIDES = ("buy", "sell")
CASH_SIDES = ("deposit", "withdrawal", "dividend")
REQUIRED_COLUMNS = ("date", "account", "side", "symbol", "quantity", "price")
OPTIONAL_COLUMNS = ("account_type", "fees", "lot_id", "amount")
ACCOUNT_TYPES: Mapping[str, str] = {
    "taxable": AccountType.TAXABLE,
    "ira": AccountType.IRA,
    "roth": AccountType.ROTH,
}
FUNDING_DESCRIPTION = "Funding for imported trades"
EXTERNAL_ID_PREFIX = "import"

_MAX_QUANTITY = Decimal("1e12")
_MAX_PRICE = Decimal("1e11")
_MAX_CASH = Decimal("1e13")
_ACCOUNT_NAME_MAX = Account._meta.get_field("name").max_length or 120
#: The largest id a lot can have (a ``BigAutoField``: a signed 64-bit integer).
_MAX_LOT_ID = 2**63 - 1


@dataclass(frozen=True)
class RowError:
    """A problem with one row (line 1 is the header)."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "message": self.message}


@dataclass(frozen=True)
class LotReference:
    """One entry of a sell's ``lot_id``: a buy row of the file, or an existing lot."""

    text: str
    line: int | None = None
    lot_id: int | None = None


@dataclass(frozen=True)
class TransactionRow:
    """One well-formed row (checked on its own, not yet against the database)."""

    line: int
    date: dt.date
    account: str
    account_type: str
    side: str
    symbol: str
    quantity: Decimal | None = None
    price: Decimal | None = None
    fees: Decimal = ZERO
    amount: Decimal | None = None
    lot_references: tuple[LotReference, ...] = ()

    @property
    def position(self) -> tuple[str, str]:
        return (self.account, self.symbol)

    @property
    def order_key(self) -> tuple[dt.date, int]:
        """Application order: date, then the row's place in the file."""
        return (self.date, self.line)


@dataclass
class TransactionFile:
    """A parsed file: its well-formed rows, the problems found, and what the bad rows touch."""

    digest: str
    rows: list[TransactionRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    sides: dict[int, str] = field(default_factory=dict)
    bad_positions: set[tuple[str, str]] = field(default_factory=set)
    bad_accounts: set[str] = field(default_factory=set)
    bad_lines: set[int] = field(default_factory=set)
    bad_row_account_types: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TransactionImportResult:
    household_id: int
    household_name: str
    household_created: bool
    already_imported: bool
    key: str
    accounts_created: tuple[str, ...] = ()
    applied: Mapping[str, int] = field(default_factory=dict)
    funding_deposits: int = 0
    funding_total: Decimal = ZERO
    realised_lots: int = 0
    wash_sales: int = 0
    first_date: dt.date | None = None
    last_date: dt.date | None = None

    @property
    def rows_applied(self) -> int:
        return sum(self.applied.values())


def import_key(*, household_name: str, content: bytes) -> str:
    """The deterministic key of importing ``content`` into the household named so."""
    digest = hashlib.sha256(household_name.encode() + b"\0" + content).hexdigest()
    return digest[:32]


def external_id(key: str, line: int) -> str:
    """The idempotency key of the entry written for ``line`` of the import ``key``."""
    return f"{EXTERNAL_ID_PREFIX}:{key}:{line}"


# -- parsing -------------------------------------------------------------------------------------


def _number(raw: str, *, name: str, places: int, maximum: Decimal, positive: bool) -> Decimal:
    text = raw.strip()
    try:
        value = to_decimal(text, name=name)
    except InvalidInput:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'}, got {text}")
    if value >= maximum:
        raise ValueError(f"{name} {text} is implausibly large")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(f"{name} {text} has more than {places} decimal places")
    return value


def _date(raw: str, today: dt.date) -> dt.date:
    text = raw.strip()
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date {text!r} is not a date (YYYY-MM-DD)") from None
    if day > today:
        raise ValueError(f"date {day} is in the future (today is {today})")
    if day < EARLIEST_TRADE_DATE:
        raise ValueError(f"date {day} is before {EARLIEST_TRADE_DATE}")
    return day


def _digits(text: str) -> bool:
    """Whether ``text`` is a plain decimal number (ASCII digits only: ``"²".isdigit()`` holds)."""
    return text.isascii() and text.isdigit()


def _lot_references(raw: str) -> tuple[tuple[LotReference, ...], list[str]]:
    references: list[LotReference] = []
    problems: list[str] = []
    seen: set[tuple[int | None, int | None]] = set()
    for token in (part.strip() for part in raw.split(";")):
        if not token:
            continue
        lowered = token.lower().replace(" ", "")
        if lowered.startswith("line:") and _digits(lowered[5:]) and int(lowered[5:]) >= 2:
            ref = LotReference(text=token, line=int(lowered[5:]))
        elif _digits(token) and 0 < int(token) <= _MAX_LOT_ID:
            ref = LotReference(text=token, lot_id=int(token))
        else:
            problems.append(
                f"lot_id {token!r} is neither line:<N> (the buy on line N of this file) "
                "nor the number of an existing lot"
            )
            continue
        if (ref.line, ref.lot_id) in seen:
            problems.append(f"lot_id names {token} twice")
            continue
        seen.add((ref.line, ref.lot_id))
        references.append(ref)
    return tuple(references), problems


def _parse_row(
    cells: Mapping[str, str], *, line: int, today: dt.date, has_amount: bool
) -> tuple[TransactionRow | None, list[str]]:
    problems: list[str] = []

    def attempt(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except ValueError as exc:
            problems.append(str(exc))
            return None

    side = cells["side"].strip().lower()
    account = cells["account"].strip()
    symbol = cells["symbol"].strip().upper()
    account_type_raw = cells.get("account_type", "").strip().lower()
    quantity_raw, price_raw = cells["quantity"].strip(), cells["price"].strip()
    fees_raw = cells.get("fees", "").strip()
    amount_raw = cells.get("amount", "").strip()
    lot_raw = cells.get("lot_id", "").strip()
    day = attempt(lambda: _date(cells["date"], today))
    if side not in SIDES:
        problems.append(f"side {cells['side'].strip()!r} is not one of {', '.join(SIDES)}")
    if not account:
        problems.append("account is empty")
    elif len(account) > _ACCOUNT_NAME_MAX:
        problems.append(f"account name is longer than {_ACCOUNT_NAME_MAX} characters")
    account_type = ""
    if account_type_raw:
        if account_type_raw in ACCOUNT_TYPES:
            account_type = ACCOUNT_TYPES[account_type_raw]
        else:
            problems.append(
                f"account_type {cells['account_type'].strip()!r} is not one of taxable, ira, roth"
            )
    quantity = price = amount = None
    fees = ZERO
    references: tuple[LotReference, ...] = ()
    if side in TRADE_SIDES:
        if not symbol:
            problems.append(f"symbol is empty (a {side} needs one)")
        if not quantity_raw:
            problems.append(f"quantity is empty (a {side} needs one)")
        else:
            quantity = attempt(
                lambda: _number(
                    quantity_raw, name="quantity", places=9, maximum=_MAX_QUANTITY, positive=True
                )
            )
        if not price_raw:
            problems.append(f"price is empty (a {side} needs one)")
        else:
            price = attempt(
                lambda: _number(
                    price_raw, name="price", places=6, maximum=_MAX_PRICE, positive=True
                )
            )
        if fees_raw:
            fees = attempt(
                lambda: _number(fees_raw, name="fees", places=2, maximum=_MAX_CASH, positive=False)
            )
        if side == "buy" and lot_raw:
            problems.append("lot_id is only for sell rows (it names the lots to sell)")
        if side == "sell" and lot_raw:
            references, lot_problems = _lot_references(lot_raw)
            problems.extend(lot_problems)
        if quantity is not None and price is not None and fees is not None:
            gross = purchase_cost(quantity, price)
            if side == "sell" and fees > gross:
                problems.append(f"fees {fees} exceed the sale's gross amount {gross}")
            elif amount_raw:
                stated = attempt(
                    lambda: _number(
                        amount_raw.lstrip("-"),
                        name="amount",
                        places=2,
                        maximum=_MAX_CASH,
                        positive=True,
                    )
                )
                expected = (
                    purchase_cost(quantity, price, fees)
                    if side == "buy"
                    else sale_proceeds(quantity, price, fees)
                )
                sign = "+" if side == "buy" else "-"
                if stated is not None and stated != expected:
                    problems.append(
                        f"amount {amount_raw} does not match quantity x price {sign} fees "
                        f"= {expected}"
                    )
    elif side in CASH_SIDES:
        if side == "dividend" and not symbol:
            problems.append("symbol is empty (a dividend needs the security that paid it)")
        if side != "dividend" and symbol:
            problems.append(f"a {side} row takes no symbol")
        if quantity_raw or price_raw:
            problems.append(f"quantity and price must be empty on a {side} row (use amount)")
        if fees_raw and fees_raw.strip("0.") != "":
            problems.append("fees apply only to buy and sell rows")
        if lot_raw:
            problems.append("lot_id is only for sell rows (it names the lots to sell)")
        if not has_amount:
            problems.append(f"a {side} row needs an amount column")
        elif not amount_raw:
            problems.append(f"amount is empty (a {side} needs one)")
        else:
            amount = attempt(
                lambda: _number(
                    amount_raw, name="amount", places=2, maximum=_MAX_CASH, positive=True
                )
            )
    if problems or day is None:
        return None, problems
    return (
        TransactionRow(
            line=line,
            date=day,
            account=account,
            account_type=account_type,
            side=side,
            symbol=symbol,
            quantity=quantity,
            price=price,
            fees=fees or ZERO,
            amount=amount,
            lot_references=references,
        ),
        problems,
    )


def transaction_file_parse(content: bytes, *, today: dt.date) -> TransactionFile:
    """Read a transactions CSV and check each row on its own; nothing touches the database.

    A problem with the file as a whole (not text, no header, missing or unknown columns) raises
    :class:`InvalidInput`; problems with rows are collected in ``errors`` with line numbers.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the file is not UTF-8 text ({exc.reason})", field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise InvalidInput("the file is empty: expected a header row", field="file") from None
    except csv.Error as exc:
        raise InvalidInput(f"line 1: {exc}", field="file") from None
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise InvalidInput(f"column(s) appear twice: {', '.join(duplicated)}", field="file")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InvalidInput(
            f"missing column(s): {', '.join(missing)}; the header needs "
            f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})",
            field="file",
        )
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown column(s): {', '.join(unknown)}; the columns are "
            f"{', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}",
            field="file",
        )
    parsed = TransactionFile(digest=hashlib.sha256(content).hexdigest())
    has_amount = "amount" in header
    line = 1
    records = iter(reader)
    while True:
        line += 1
        try:
            record = next(records)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.errors.append(RowError(line, f"not readable as CSV: {exc}"))
            parsed.bad_lines.add(line)
            continue
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            parsed.errors.append(
                RowError(line, f"has {len(record)} fields, the header has {len(header)}")
            )
            parsed.bad_lines.add(line)
            parsed.sides[line] = ""
            continue
        cells = dict(zip(header, record, strict=True))
        parsed.sides[line] = cells["side"].strip().lower()
        row, problems = _parse_row(cells, line=line, today=today, has_amount=has_amount)
        if row is None:
            parsed.errors.extend(RowError(line, problem) for problem in problems)
            parsed.bad_lines.add(line)
            account = cells["account"].strip()
            parsed.bad_accounts.add(account)
            declared = cells.get("account_type", "").strip().lower()
            if declared in ACCOUNT_TYPES:
                parsed.bad_row_account_types.setdefault(account, ACCOUNT_TYPES[declared])
            parsed.bad_positions.add((account, cells["symbol"].strip().upper()))
        else:
            parsed.rows.append(row)
    return parsed


# -- validation against the books ----------------------------------------------------------------


@dataclass(frozen=True)
class _ExistingLot:
    household_id: int
    account_name: str
    symbol: str
    acquired_on: dt.date
    acquisition_id: str


class _Simulation:
    """The household's holdings and cash replayed through the file, without writing anything."""

    def __init__(
        self,
        parsed: TransactionFile,
        household: Household | None,
        accounts: dict[str, Account],
        *,
        unknown_accounts: Iterable[str] = (),
    ) -> None:
        self.parsed = parsed
        # Holdings (cash) are unknown where a row that could not be read or applied touches them.
        self.bad_positions = set(parsed.bad_positions)
        self.bad_accounts = set(parsed.bad_accounts) | set(unknown_accounts)
        self.household = household
        self.accounts = accounts
        self.errors: list[RowError] = []
        self.rates = household_rates(household or Household())
        self.cash: dict[str, Decimal] = {name: a.cash for name, a in accounts.items()}
        self.lots: dict[tuple[str, str], list[tax.TaxLot]] = {}
        self.buys = {row.line: row for row in parsed.rows if row.side == "buy"}
        symbols = {row.symbol for row in parsed.rows if row.symbol}
        name_of = {a.pk: name for name, a in accounts.items()}
        for lot in (
            TaxLot.objects.filter(
                account__in=list(accounts.values()), asset__symbol__in=symbols, quantity__gt=0
            )
            .select_related("asset")
            .order_by("acquired_on", "id")
        ):
            key = (name_of[lot.account_id], lot.asset.symbol)
            self.lots.setdefault(key, []).append(core_lot(lot, lot.asset.symbol))
        named = {
            ref.lot_id
            for row in parsed.rows
            for ref in row.lot_references
            if ref.lot_id is not None
        }
        self.existing: dict[int, _ExistingLot] = {
            lot.pk: _ExistingLot(
                household_id=lot.account.household_id,
                account_name=lot.account.name,
                symbol=lot.asset.symbol,
                acquired_on=lot.acquired_on,
                acquisition_id=lot.acquisition_id,
            )
            for lot in TaxLot.objects.filter(pk__in=named).select_related("account", "asset")
        }

    def error(self, row: TransactionRow, message: str) -> None:
        self.errors.append(RowError(row.line, message))

    def run(self, rows: Iterable[TransactionRow]) -> list[RowError]:
        for row in rows:
            if row.side == "buy":
                self.buy(row)
            elif row.side == "sell":
                self.sell(row)
            elif row.side in ("deposit", "dividend"):
                self.cash[row.account] = self.cash.get(row.account, ZERO) + (row.amount or ZERO)
            elif row.side == "withdrawal":
                self.withdraw(row)
        return self.errors

    def buy(self, row: TransactionRow) -> None:
        assert row.quantity is not None and row.price is not None
        lot = tax.open_lot(
            lot_id=f"line:{row.line}",
            account_id=row.account,
            symbol=row.symbol,
            quantity=row.quantity,
            price=row.price,
            acquired_on=row.date,
            fees=row.fees,
        )
        self.lots.setdefault(row.position, []).append(lot)
        # A shortfall is funded by an implied deposit, so cash never goes below zero.
        self.cash[row.account] = max(self.cash.get(row.account, ZERO) - lot.cost_basis, ZERO)

    def withdraw(self, row: TransactionRow) -> None:
        amount = row.amount or ZERO
        available = self.cash.get(row.account, ZERO)
        if row.account in self.bad_accounts:
            self.cash[row.account] = max(available - amount, ZERO)
            return
        if amount > available:
            self.error(
                row,
                f"withdrawing {amount} from {row.account} on {row.date} leaves a negative cash "
                f"balance: the account has {available} in cash then",
            )
            return
        self.cash[row.account] = available - amount

    def sell(self, row: TransactionRow) -> None:
        assert row.quantity is not None and row.price is not None
        position = self.lots.get(row.position, [])
        held_lots = [lot for lot in position if lot.acquired_on <= row.date]
        later = [lot for lot in position if lot.acquired_on > row.date]
        specific: list[str] | None = None
        if row.lot_references:
            specific = self.referenced_lots(row, held_lots)
            if specific is None:
                return
        if row.position in self.bad_positions:
            return  # holdings unknown until the bad row of this position is fixed
        held = sum((lot.quantity for lot in held_lots), ZERO)
        if row.quantity > held:
            self.error(
                row,
                f"cannot sell {_plain(row.quantity)} {row.symbol} from {row.account} on "
                f"{row.date}: only {_plain(held)} held then (counting current holdings and "
                "the rows before this one)",
            )
            return
        if specific is not None:
            open_ids = {lot.lot_id for lot in held_lots}
            specific = [lot_id for lot_id in specific if lot_id in open_ids]
            available = sum((lot.quantity for lot in held_lots if lot.lot_id in specific), ZERO)
            if not specific:
                self.error(row, f"the lots named in lot_id ({_refs(row)}) have no shares left")
                return
            if available < row.quantity:
                self.error(
                    row,
                    f"the lots named in lot_id ({_refs(row)}) hold {_plain(available)} shares, "
                    f"fewer than the {_plain(row.quantity)} sold",
                )
                return
        account = self.accounts.get(row.account)
        method = lot_method(account.lot_method if account else LotMethod.FIFO)
        if specific:
            method = tax.LotMethod.SPECIFIC
        elif method is tax.LotMethod.SPECIFIC:
            method = tax.LotMethod.FIFO
        try:
            closing = tax.close_lots(
                held_lots,
                quantity=row.quantity,
                sale_price=row.price,
                sale_date=row.date,
                method=method,
                fees=row.fees,
                specific_lot_ids=specific,
                rates=self.rates,
            )
        except DomainError as exc:
            self.error(row, exc.message)
            return
        self.cash[row.account] = self.cash.get(row.account, ZERO) + sale_proceeds(
            row.quantity, row.price, row.fees
        )
        self.lots[row.position] = [*closing.remaining, *later]

    def referenced_lots(self, row: TransactionRow, position: list[tax.TaxLot]) -> list[str] | None:
        """The simulated lot ids a sell's ``lot_id`` names (checked for what they are, not for
        shares left), or None after reporting a problem."""
        ids: list[str] = []
        ok = True
        for ref in row.lot_references:
            if ref.line is not None:
                found = self.file_lot(row, ref)
                found_ids = None if found is None else [found]
            else:
                found_ids = self.existing_lot(row, ref.lot_id or 0, position)
            if found_ids is None:
                ok = False
            else:
                ids.extend(i for i in found_ids if i not in ids)
        return ids if ok else None

    def file_lot(self, row: TransactionRow, ref: LotReference) -> str | None:
        assert ref.line is not None
        target = self.buys.get(ref.line)
        if target is None:
            if ref.line in self.parsed.bad_lines:
                self.bad_positions.add(row.position)  # reported on that line
            elif ref.line in self.parsed.sides:
                side = self.parsed.sides[ref.line]
                self.error(row, f"lot_id {ref.text}: line {ref.line} is a {side} row, not a buy")
            else:
                self.error(row, f"lot_id {ref.text}: the file has no row on line {ref.line}")
            return None
        if target.position != row.position:
            self.error(
                row,
                f"lot_id {ref.text} is a buy of {target.symbol} in {target.account}, "
                f"not of {row.symbol} in {row.account}",
            )
            return None
        if target.order_key > row.order_key:
            self.error(
                row,
                f"lot_id {ref.text} is bought on {target.date} (line {target.line}), "
                "after this sale",
            )
            return None
        return f"line:{ref.line}"

    def existing_lot(
        self, row: TransactionRow, lot_id: int, held_lots: list[tax.TaxLot]
    ) -> list[str] | None:
        info = self.existing.get(lot_id)
        if info is None:
            self.error(row, f"lot_id {lot_id}: there is no lot {lot_id}")
            return None
        ours = self.household is not None and info.household_id == self.household.pk
        if not ours or info.account_name != row.account or info.symbol != row.symbol:
            self.error(row, f"lot_id {lot_id} is not a lot of {row.symbol} in {row.account}")
            return None
        if info.acquired_on > row.date:
            self.error(row, f"lot_id {lot_id} is bought on {info.acquired_on}, after this sale")
            return None
        # The lot named, then the other parts of the same purchase (split by wash sales).
        same = [
            lot.lot_id
            for lot in held_lots
            if lot.acquisition_id == info.acquisition_id and lot.lot_id != str(lot_id)
        ]
        return [str(lot_id), *same]


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _refs(row: TransactionRow) -> str:
    return "; ".join(ref.text for ref in row.lot_references)


def transaction_file_validate(
    *, parsed: TransactionFile, household: Household | None
) -> list[RowError]:
    """Check the well-formed rows against the books: accounts, symbols, holdings, lots, cash.

    ``household`` is ``None`` when the import will create it. Reads only; returns the problems
    sorted by line (the rows' own problems in ``parsed.errors`` are not repeated).
    """
    errors: list[RowError] = []
    existing = {a.name: a for a in Account.objects.filter(household=household)} if household else {}
    new_types: dict[str, tuple[str, int]] = {}
    first_line: dict[str, int] = {}
    for row in parsed.rows:
        first_line.setdefault(row.account, row.line)
        account = existing.get(row.account)
        if account is not None:
            if not account.is_active:
                errors.append(RowError(row.line, f"account {row.account!r} is closed"))
            if row.account_type and row.account_type != account.account_type:
                errors.append(
                    RowError(
                        row.line,
                        f"account {row.account!r} is {AccountType(account.account_type).label} "
                        f"({account.account_type}), not {row.account_type}",
                    )
                )
        elif row.account_type:
            if row.account not in new_types:
                new_types[row.account] = (row.account_type, row.line)
            elif new_types[row.account][0] != row.account_type:
                given, line = new_types[row.account]
                errors.append(
                    RowError(
                        row.line,
                        f"account {row.account!r} is given as {row.account_type} here but as "
                        f"{given} on line {line}",
                    )
                )
    declared = {*new_types, *parsed.bad_row_account_types}
    for name, line in first_line.items():
        if name not in existing and name not in declared:
            errors.append(
                RowError(
                    line,
                    f"account {name!r} is new: give its account_type (taxable, ira or roth)",
                )
            )
    symbols = {row.symbol for row in parsed.rows if row.symbol}
    known = set(Asset.objects.filter(symbol__in=symbols).values_list("symbol", flat=True))
    playable = []
    unknown_accounts = set()
    for row in parsed.rows:
        if row.symbol and row.symbol not in known:
            errors.append(
                RowError(row.line, f"unknown symbol {row.symbol}; add it to the universe first")
            )
            unknown_accounts.add(row.account)
        else:
            playable.append(row)
    simulation = _Simulation(parsed, household, existing, unknown_accounts=unknown_accounts)
    errors.extend(simulation.run(sorted(playable, key=lambda r: r.order_key)))
    return sorted(errors, key=lambda e: e.line)


# -- applying ------------------------------------------------------------------------------------


def transaction_file_import(
    *,
    content: bytes,
    household_name: str,
    today: dt.date,
    progress: Callable[[int], None] | None = None,
) -> TransactionImportResult:
    """Import a transactions CSV into the household named ``household_name``, all or nothing.

    Creates the household and new accounts, then applies every row in date order (see the module
    docstring). Raises :class:`InvalidInput` listing every bad row (``details``: a list of
    ``{"line", "message"}``) and writes nothing when any row is bad. Importing the same file into
    the same household again returns ``already_imported=True`` and changes nothing.

    Parameters
    ----------
    content
        The file's bytes (UTF-8).
    household_name
        The household to import into; created when it does not exist.
    today
        Rows dated after ``today`` are refused.
    progress
        Called with the number of rows applied so far.
    """
    name = household_name.strip()
    if not name:
        raise InvalidInput("the household name is empty", field="household")
    parsed = transaction_file_parse(content, today=today)
    key = import_key(household_name=name, content=content)
    with transaction.atomic():
        household = Household.objects.select_for_update().filter(name=name).first()
        if (
            household is not None
            and Transaction.objects.filter(
                account__household=household,
                external_id__startswith=f"{EXTERNAL_ID_PREFIX}:{key}:",
            ).exists()
        ):
            return TransactionImportResult(
                household_id=household.pk,
                household_name=name,
                household_created=False,
                already_imported=True,
                key=key,
            )
        errors = sorted(
            [*parsed.errors, *transaction_file_validate(parsed=parsed, household=household)],
            key=lambda e: e.line,
        )
        if errors:
            raise InvalidInput(
                f"{len({e.line for e in errors})} bad row(s); nothing was imported",
                field="file",
                details=[e.as_dict() for e in errors],
            )
        if not parsed.rows:
            raise InvalidInput("the file has no transactions", field="file")
        created = household is None
        if household is None:
            household = Household.objects.create(name=name)
        return _apply(parsed, household, created=created, key=key, progress=progress)


def _apply(
    parsed: TransactionFile,
    household: Household,
    *,
    created: bool,
    key: str,
    progress: Callable[[int], None] | None,
) -> TransactionImportResult:
    accounts = {a.name: a for a in Account.objects.filter(household=household)}
    new_accounts: list[str] = []
    for row in parsed.rows:
        if row.account not in accounts:
            kind = next(
                r.account_type for r in parsed.rows if r.account == row.account and r.account_type
            )
            accounts[row.account] = Account.objects.create(
                household=household, name=row.account, account_type=kind
            )
            new_accounts.append(row.account)
    asset_ids = dict(
        Asset.objects.filter(symbol__in={r.symbol for r in parsed.rows if r.symbol}).values_list(
            "symbol", "pk"
        )
    )
    acquisitions: dict[int, str] = {}
    applied: dict[str, int] = {}
    funding = 0
    funding_total = ZERO
    realised = washes = 0
    rows = sorted(parsed.rows, key=lambda r: r.order_key)
    for done, row in enumerate(rows, start=1):
        account = accounts[row.account]
        entry = external_id(key, row.line)
        try:
            if row.side in TRADE_SIDES:
                if row.side == "buy":
                    shortfall = _fund(account, row, entry)
                    if shortfall:
                        funding += 1
                        funding_total += shortfall
                result = _trade(account, row, entry, _specific_lot_ids(account, row, acquisitions))
                if row.side == "buy":
                    acquisitions[row.line] = (
                        result.lots[0].acquisition_id
                        if result.lots
                        else f"t{result.transaction.pk}"
                    )
                realised += len(result.realized)
                washes += len(result.wash_sales)
            elif row.side == "deposit":
                cash_deposit(
                    account=account, amount=row.amount or ZERO, on=row.date, external_id=entry
                )
            else:
                _cash_entry(account, row, entry, asset_ids.get(row.symbol))
        except DomainError as exc:
            raise InvalidInput(
                f"line {row.line}: {exc.message}; nothing was imported",
                field="file",
                details=[RowError(row.line, exc.message).as_dict()],
            ) from exc
        applied[row.side] = applied.get(row.side, 0) + 1
        if progress is not None:
            progress(done)
    return TransactionImportResult(
        household_id=household.pk,
        household_name=household.name,
        household_created=created,
        already_imported=False,
        key=key,
        accounts_created=tuple(new_accounts),
        applied=applied,
        funding_deposits=funding,
        funding_total=funding_total,
        realised_lots=realised,
        wash_sales=washes,
        first_date=rows[0].date,
        last_date=rows[-1].date,
    )


def _fund(account: Account, row: TransactionRow, entry: str) -> Decimal:
    """Deposit what a buy needs beyond the account's cash; returns the amount deposited."""
    assert row.quantity is not None and row.price is not None
    cost = purchase_cost(row.quantity, row.price, row.fees)
    available = Account.objects.values_list("cash", flat=True).get(pk=account.pk)
    if cost <= available:
        return ZERO
    shortfall = cost - available
    deposit = cash_deposit(
        account=account, amount=shortfall, on=row.date, external_id=f"{entry}:funding"
    )
    Transaction.objects.filter(pk=deposit.pk).update(description=FUNDING_DESCRIPTION)
    return shortfall


def _trade(
    account: Account, row: TransactionRow, entry: str, lot_ids: list[int] | None = None
) -> TradeResult:
    assert row.quantity is not None and row.price is not None
    return trade_apply(
        account_id=account.pk,
        symbol=row.symbol,
        side=row.side,
        quantity=row.quantity,
        price=row.price,
        fees=row.fees,
        trade_date=row.date,
        external_id=entry,
        specific_lot_ids=lot_ids,
    )


def _specific_lot_ids(
    account: Account, row: TransactionRow, acquisitions: Mapping[int, str]
) -> list[int] | None:
    """The open lots a sell's ``lot_id`` names, as database ids in the order named."""
    if not row.lot_references:
        return None
    lots = TaxLot.objects.filter(account=account, asset__symbol=row.symbol, quantity__gt=0)
    ids: list[int] = []
    for ref in row.lot_references:
        if ref.line is not None:
            found = list(
                lots.filter(acquisition_id=acquisitions[ref.line])
                .order_by("id")
                .values_list("pk", flat=True)
            )
        else:
            lot_id = ref.lot_id or 0
            named = TaxLot.objects.filter(pk=lot_id).values_list("acquisition_id", flat=True)
            same = lots.filter(acquisition_id__in=named).exclude(pk=lot_id).order_by("id")
            found = [
                *lots.filter(pk=lot_id).values_list("pk", flat=True),
                *same.values_list("pk", flat=True),
            ]
        ids.extend(pk for pk in found if pk not in ids)
    if not ids:
        raise InvalidInput(f"the lots named in lot_id ({_refs(row)}) have no shares left")
    return ids


def _cash_entry(account: Account, row: TransactionRow, entry: str, asset_id: int | None) -> None:
    """A withdrawal or a dividend: the ledger entry and the account's cash, under its lock."""
    amount = row.amount or ZERO
    locked = Account.objects.select_for_update().get(pk=account.pk)
    if row.side == "withdrawal":
        if amount > locked.cash:
            raise InvalidInput(
                f"withdrawing {amount} from {account.name} leaves a negative cash balance: "
                f"the account has {locked.cash}"
            )
        Transaction.objects.create(
            account=locked,
            kind=TransactionKind.WITHDRAWAL,
            trade_date=row.date,
            amount=-amount,
            external_id=entry,
            description="Withdrawal",
        )
        Account.objects.filter(pk=locked.pk).update(cash=F("cash") - amount)
    else:
        Transaction.objects.create(
            account=locked,
            kind=TransactionKind.DIVIDEND,
            asset_id=asset_id,
            trade_date=row.date,
            amount=amount,
            external_id=entry,
            description=f"Dividend {row.symbol}",
        )
        Account.objects.filter(pk=locked.pk).update(cash=F("cash") + amount)
