"""The daily tax-loss harvesting scan over the books: which taxable accounts have losses to harvest.

Reads the open lots of the households concerned in one streaming query (ordered by household,
in chunks), screens every lot of the taxable accounts at once with the tax engine's vectorised
:func:`~portfolios.core.tax.screen_harvest_lots`, and runs the exact
:func:`~portfolios.core.tax.scan_harvest` only for the accounts with lots that pass. The other
accounts of each household (IRAs included) are read too: their purchases can wash a harvest.

Inputs, all from the books: prices (:func:`portfolios.selectors.latest_prices` on the scan date,
unless given), the household's short- and long-term rates, the assets' replacement and identity
groups, the household's active harvest blocks, its realised losses of the last 30 days (a
replacement must not wash them), and the firm's thresholds (:meth:`FirmSettings.current`):

* ``harvest_min_benefit``: the net benefit of each lot and of each proposal must exceed it;
* ``harvest_min_loss_pct``: a lot is harvested only when its unrealised loss is at least this
  share of its market value. Lots under it (and lots without a price) are held back: the scan sees
  them as held in a separate taxable account of the household, so they still wash the sale as
  any held shares do but are never sold;
* ``commission_per_trade``: paid on the sale and on the replacement purchase.

Replacement candidates are the active assets with a price and a replacement group, in symbol
order within each group. Nothing is written: the caller turns the results into proposals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
from django.db.models import F, QuerySet

from portfolios.core import tax
from portfolios.core.money import CASH_QUANT, ROUNDING, ZERO
from portfolios.ledger import PendingOrder, account_tax_type, core_realized
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    FirmSettings,
    HarvestBlock,
    Household,
    RealizedLot,
    TaxLot,
    WashSale,
)
from portfolios.prepared import prepared_read
from portfolios.selectors import latest_prices

#: Lots read per round trip of the streaming query.
CHUNK_SIZE = 20_000
#: Households are screened together until their lots reach this many.
BATCH_LOTS = 50_000
#: The suffix of the account id under which an account's held-back lots are scanned.
HELD_BACK = ":held-back"

_LOT_COLUMNS = (
    "account__household_id",
    "account_id",
    "asset_id",
    "quantity",
    "cost_basis",
    "acquired_on",
    "holding_period_start",
    "id",
    "acquisition_id",
    "wash_sale_adjustment",
    "replacement_for_id",
)
_ACCOUNT_COLUMNS = (
    "pk",
    "household_id",
    "account_type",
    "is_active",
    "household__short_term_rate",
    "household__long_term_rate",
)
_EMPTY: Mapping[int, Collection[str]] = MappingProxyType({})
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
#: A lot whose float value exceeds its basis by more than this is at a gain whatever the rounding.
_GAIN_MARGIN = 0.01


@dataclass(frozen=True)
class AccountHarvest:
    """The scan of one taxable account.

    ``screened_lots`` is how many of its lots passed the vectorised screen; when it is 0 the
    exact scan did not run and ``scan`` is empty.
    """

    account_id: int
    household_id: int
    screened_lots: int
    scan: tax.HarvestScan


@dataclass(frozen=True)
class _Household:
    rates: tax.TaxRates
    account_types: dict[str, tax.AccountType]
    blocks: tuple[tax.WashSaleBlock, ...]
    recent_realised: tuple[tax.RealisedLot, ...]
    pending: tuple[tax.PendingPurchase, ...]
    excluded: Collection[str]


class _Universe:
    """Assets, prices and the replacement menu, read once for the whole scan."""

    def __init__(self, *, as_of: dt.date, prices: Mapping[str, Decimal] | None) -> None:
        rows = _asset_rows()
        self.symbols = {pk: symbol for pk, symbol, *_ in rows}
        self.identity_groups = {symbol: group for _, symbol, group, _, _ in rows if group}
        self.replacement_groups = {symbol: group for _, symbol, _, group, _ in rows if group}
        if prices is None:
            prices = {last.symbol: last.close for last in latest_prices(on=as_of).values()}
        self.prices = {s: p for s, p in prices.items() if p.is_finite() and p > 0}
        size = max(self.symbols, default=0) + 1
        self.price_by_id = np.full(size, np.nan)
        for pk, symbol in self.symbols.items():
            if symbol in self.prices:
                self.price_by_id[pk] = float(self.prices[symbol])
        self.menu = tax.ReplacementMenu.build(
            [
                tax.ReplacementCandidate(symbol, self.prices[symbol])
                for _, symbol, _, group, active in sorted(rows, key=lambda r: r[1])
                if active and group and symbol in self.prices
            ],
            self.replacement_groups,
        )


def _firm_policy(firm: FirmSettings) -> tuple[tax.HarvestPolicy, Decimal]:
    policy = tax.HarvestPolicy(
        commission_per_trade=firm.commission_per_trade, min_benefit=firm.harvest_min_benefit
    )
    return policy, firm.harvest_min_loss_pct


@prepared_read
def _asset_rows() -> QuerySet[Asset, Any]:
    return Asset.objects.values_list(
        "pk", "symbol", "identity_group", "replacement_group", "is_active"
    )


@prepared_read
def _account_rows(account_ids: list[int] | None) -> QuerySet[Account, Any]:
    accounts = Account.objects.all()
    if account_ids is not None:
        scanned = Account.objects.filter(
            pk__in=account_ids, is_active=True, account_type=AccountType.TAXABLE
        )
        accounts = accounts.filter(household_id__in=scanned.values("household_id"))
    return accounts.values_list(*_ACCOUNT_COLUMNS)


@prepared_read
def _block_rows(household_ids: list[int] | None, as_of: dt.date) -> QuerySet[HarvestBlock, Any]:
    rows = HarvestBlock.objects.filter(blocked_until__gte=as_of, sold_on__lte=as_of)
    if household_ids is not None:
        rows = rows.filter(household_id__in=household_ids)
    return rows.values_list("household_id", "symbol", "identity_key", "sold_on", "blocked_until")


@prepared_read
def _recent_loss_rows(
    household_ids: list[int] | None, first: dt.date, last: dt.date
) -> QuerySet[RealizedLot]:
    rows = RealizedLot.objects.filter(
        reportable=True,
        sold_on__gte=first,
        sold_on__lte=last,
        cost_basis__gt=F("proceeds"),
    ).select_related("asset")
    if household_ids is not None:
        rows = rows.filter(account__household_id__in=household_ids)
    return rows


@prepared_read
def _promised_rows(order_refs: list[str]) -> QuerySet[WashSale, Any]:
    return WashSale.objects.filter(pending=True, replacement_order__in=order_refs).values_list(
        "replacement_order", "quantity"
    )


def _book_accounts(account_ids: Iterable[int] | None) -> list[tuple[Any, ...]]:
    """The accounts the scan reads, as ``_ACCOUNT_COLUMNS``, in one query: all of them, or every
    account of the households that have an active taxable account among ``account_ids``."""
    return _account_rows(None if account_ids is None else list(account_ids))


def _households(
    household_ids: Collection[int] | None,
    *,
    accounts: Sequence[tuple[Any, ...]],
    as_of: dt.date,
    excluded_by_household: Mapping[int, Collection[str]],
    pending_orders: Sequence[PendingOrder],
    identity_groups: Mapping[str, str],
) -> dict[int, _Household]:
    """Rates, account types, blocks, recent losses and pending buys of each household.

    ``accounts`` are the households' accounts with their rates (from :func:`_book_accounts`);
    when ``household_ids`` is ``None`` every household is read, with accounts or not.
    """

    scoped = None if household_ids is None else sorted(household_ids)
    household_of: dict[int, int] = {}
    types: dict[int, dict[str, tax.AccountType]] = defaultdict(dict)
    rates: dict[int, tuple[Decimal, Decimal]] = {}
    for pk, household_id, account_type, _, short, long in accounts:
        household_of[pk] = household_id
        types[household_id][str(pk)] = account_tax_type(account_type)
        rates.setdefault(household_id, (short, long))
    if household_ids is None:
        rates = {
            pk: (short, long)
            for pk, short, long in Household.objects.values_list(
                "pk", "short_term_rate", "long_term_rate"
            )
        }
    blocks: dict[int, list[tax.WashSaleBlock]] = defaultdict(list)
    for household_id, symbol, key, sold_on, until in _block_rows(scoped, as_of):
        group = key.removeprefix("group:") if key.startswith("group:") else None
        blocks[household_id].append(
            tax.WashSaleBlock(
                symbol=symbol,
                identity_group=group or identity_groups.get(symbol),
                sold_on=sold_on,
                blocked_until=until,
            )
        )
    window = dt.timedelta(days=tax.WASH_SALE_WINDOW_DAYS)
    recent: dict[int, list[tax.RealisedLot]] = defaultdict(list)
    for row in _recent_loss_rows(scoped, as_of - window, as_of):
        recent[household_of[row.account_id]].append(core_realized(row, row.asset.symbol))
    pending: dict[int, list[tax.PendingPurchase]] = defaultdict(list)
    if pending_orders:
        used: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for ref, quantity in _promised_rows([o.order_ref for o in pending_orders]):
            used[ref] += quantity
        for order in pending_orders:
            if order.account_id in household_of:
                # an order in several live slices: what is promised comes off them in turn, once
                promised = min(used[order.order_ref], order.quantity)
                used[order.order_ref] -= promised
                pending[household_of[order.account_id]].append(
                    tax.PendingPurchase(
                        order_id=order.order_ref,
                        account_id=str(order.account_id),
                        symbol=order.symbol,
                        quantity=order.quantity,
                        expected_on=order.expected_on,
                        replacement_quantity_used=promised,
                    )
                )
    result = {}
    for pk, (short, long) in rates.items():
        result[pk] = _Household(
            rates=tax.TaxRates(short_term=short, long_term=long),
            account_types=types[pk],
            blocks=tuple(blocks[pk]),
            recent_realised=tuple(recent[pk]),
            pending=tuple(pending[pk]),
            excluded=frozenset(excluded_by_household.get(pk, ())),
        )
    return result


@prepared_read
def _open_lot_rows(household_ids: list[int] | None) -> QuerySet[TaxLot, Any]:
    lots = TaxLot.objects.filter(quantity__gt=0)
    if household_ids is not None:
        lots = lots.filter(account__household_id__in=household_ids)
    return lots.order_by(
        "account__household_id", "account_id", "asset_id", "acquired_on", "id"
    ).values_list(*_LOT_COLUMNS)


def _lot_batches(household_ids: Collection[int] | None) -> Iterator[list[tuple[Any, ...]]]:
    """Open lots in one streaming query, in batches that never split a household."""
    rows = _open_lot_rows.iterate(
        None if household_ids is None else list(household_ids), chunk_size=CHUNK_SIZE
    )
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        if len(batch) >= BATCH_LOTS and row[0] != batch[-1][0]:
            yield batch
            batch = []
        batch.append(row)
    if batch:
        yield batch


def _core_lot(row: tuple[Any, ...], symbol: str, account_id: str | None = None) -> tax.TaxLot:
    (_, account, _, quantity, basis, acquired, start, pk, acquisition, adjustment, replaced) = row
    return tax.TaxLot(
        lot_id=str(pk),
        account_id=account_id or str(account),
        symbol=symbol,
        quantity=quantity,
        cost_basis=basis,
        acquired_on=acquired,
        tacked_acquired_on=start if start != acquired else None,
        acquisition_id=acquisition,
        wash_sale_adjustment=adjustment,
        replacement_for=str(replaced) if replaced else None,
    )


class _Scanner:
    def __init__(
        self,
        *,
        as_of: dt.date,
        universe: _Universe,
        households: Mapping[int, _Household],
        scanned: set[int],
        policy: tax.HarvestPolicy,
        min_loss_fraction: Decimal,
    ) -> None:
        self.as_of = as_of
        self.universe = universe
        self.households = households
        self.scanned = scanned
        self.policy = policy
        self.min_loss_fraction = min_loss_fraction
        window = dt.timedelta(days=tax.WASH_SALE_WINDOW_DAYS)
        self.window_start = as_of - window
        self.window_end = as_of + window
        self.float_rates = {
            pk: (float(h.rates.short_term), float(h.rates.long_term))
            for pk, h in households.items()
        }

    def screen(self, batch: Sequence[tuple[Any, ...]]) -> tuple[dict[int, int], set[int]]:
        """Lots of scanned accounts that pass the vectorised screen, counted per account, and
        the ids of the scanned accounts' lots that may be at a loss (the others surely gain)."""
        accounts = np.fromiter((row[1] for row in batch), dtype=np.int64, count=len(batch))
        scanned = np.isin(accounts, np.fromiter(self.scanned, dtype=np.int64))
        if not scanned.any():
            return {}, set()
        rows = [row for row, keep in zip(batch, scanned, strict=True) if keep]
        n = len(rows)
        assets = np.fromiter((row[2] for row in rows), dtype=np.int64, count=n)
        quantity = np.fromiter((float(row[3]) for row in rows), dtype=np.float64, count=n)
        basis = np.fromiter((float(row[4]) for row in rows), dtype=np.float64, count=n)
        start = (
            np.fromiter((row[6].toordinal() for row in rows), dtype=np.int64, count=n)
            - _EPOCH_ORDINAL
        ).astype("datetime64[D]")
        rates = self.float_rates
        short = np.fromiter((rates[row[0]][0] for row in rows), dtype=np.float64, count=len(rows))
        long = np.fromiter((rates[row[0]][1] for row in rows), dtype=np.float64, count=len(rows))
        price = self.universe.price_by_id[assets]
        value = quantity * price
        with np.errstate(invalid="ignore"):
            passes = tax.screen_harvest_lots(
                quantity=quantity,
                cost_basis=basis,
                price=price,
                long_term=tax.long_term_mask(start, self.as_of),
                short_term_rate=short,
                long_term_rate=long,
                commission_per_trade=float(self.policy.commission_per_trade),
                min_benefit=float(self.policy.min_benefit),
            ) & (basis - value + 0.05 >= float(self.min_loss_fraction) * value)
        counts: dict[int, int] = defaultdict(int)
        for account in np.asarray(accounts[scanned])[passes]:
            counts[int(account)] += 1
        with np.errstate(invalid="ignore"):
            surely_gain = basis - value < -_GAIN_MARGIN
        maybe_loss = {row[7] for row, gain in zip(rows, surely_gain, strict=True) if not gain}
        return counts, maybe_loss

    def scan_batch(self, batch: Sequence[tuple[Any, ...]]) -> list[AccountHarvest]:
        screened, maybe_loss = self.screen(batch)
        by_household: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in batch:
            by_household[row[0]].append(row)
        results: list[AccountHarvest] = []
        for household_id, rows in by_household.items():
            for account in sorted({row[1] for row in rows if row[1] in self.scanned}):
                if screened.get(account):
                    results.append(
                        self.scan_account(
                            account, household_id, rows, screened[account], maybe_loss
                        )
                    )
                else:
                    results.append(self.empty(account, household_id))
        return results

    def empty(self, account_id: int, household_id: int) -> AccountHarvest:
        return AccountHarvest(
            account_id=account_id,
            household_id=household_id,
            screened_lots=0,
            scan=tax.HarvestScan(
                account_id=str(account_id), as_of=self.as_of, proposals=(), blocks=(), skipped=()
            ),
        )

    def scan_account(
        self,
        account_id: int,
        household_id: int,
        rows: Sequence[tuple[Any, ...]],
        screened: int,
        maybe_loss: Collection[int],
    ) -> AccountHarvest:
        """The exact scan of one account.

        Only the lots that can matter reach the tax engine: the account's own loss lots, and
        any lot of the household bought within 30 days of the scan date (it could wash the
        sale). Older lots at a gain, or in other accounts, change nothing in the result.
        """
        household = self.households[household_id]
        prices = self.universe.prices
        symbols = self.universe.symbols
        held_back = f"{account_id}{HELD_BACK}"
        unpriced: set[str] = set()
        small: set[str] = set()
        harvestable: set[str] = set()
        household_lots: list[tax.TaxLot] = []
        for row in rows:
            symbol = symbols[row[2]]
            young = self.window_start <= row[5] <= self.window_end
            if row[1] != account_id:
                if young:
                    household_lots.append(_core_lot(row, symbol))
                continue
            price = prices.get(symbol)
            if price is not None and row[7] not in maybe_loss:
                if young:
                    household_lots.append(_core_lot(row, symbol))
                continue
            if price is None:
                unpriced.add(symbol)
                if young:
                    household_lots.append(_core_lot(row, symbol, held_back))
                continue
            value = (row[3] * price).quantize(CASH_QUANT, rounding=ROUNDING)
            loss = row[4] - value
            if loss <= 0:
                if young:
                    household_lots.append(_core_lot(row, symbol))
            elif loss < self.min_loss_fraction * value:
                small.add(symbol)
                if young:
                    household_lots.append(_core_lot(row, symbol, held_back))
            else:
                harvestable.add(symbol)
                household_lots.append(_core_lot(row, symbol))
        scan = tax.scan_harvest(
            account_id=str(account_id),
            household_lots=household_lots,
            prices=prices,
            as_of=self.as_of,
            rates=household.rates,
            account_types={**household.account_types, held_back: tax.AccountType.TAXABLE},
            replacement_groups=self.universe.replacement_groups,
            candidates=self.universe.menu,
            policy=self.policy,
            identity_groups=self.universe.identity_groups,
            pending_purchases=household.pending,
            recent_realised=household.recent_realised,
            blocks=household.blocks,
            excluded=household.excluded,
        )
        skips = [tax.HarvestSkip(symbol, f"no price for {symbol}") for symbol in sorted(unpriced)]
        skips += [
            tax.HarvestSkip(
                symbol,
                f"losses under {self.min_loss_fraction:.2%} of the lots' value "
                "(the firm's minimum)",
            )
            for symbol in sorted(small - harvestable)
        ]
        if skips:
            scan = replace(scan, skipped=(*scan.skipped, *skips))
        return AccountHarvest(
            account_id=account_id, household_id=household_id, screened_lots=screened, scan=scan
        )


def harvest_scan(
    *,
    as_of: dt.date,
    account_ids: Iterable[int] | None = None,
    prices: Mapping[str, Decimal] | None = None,
    firm: FirmSettings | None = None,
    excluded_by_household: Mapping[int, Collection[str]] = _EMPTY,
    pending_orders: Sequence[PendingOrder] = (),
) -> list[AccountHarvest]:
    """Scan taxable accounts for losses worth harvesting on ``as_of``; reads only.

    Parameters
    ----------
    as_of
        The sale date the scan prices and judges holding periods on.
    account_ids
        The accounts to scan (IRAs and inactive accounts among them are ignored); all active
        taxable accounts when ``None``.
    prices
        Price per symbol; the latest close on or before ``as_of`` when ``None``.
    firm
        The firm's settings, when the caller has read them; read here when ``None``.
    excluded_by_household
        Symbols each household's clients excluded: never bought as replacements.
    pending_orders
        Buy orders of the households not filled yet: they wash a harvest like a purchase.

    Returns
    -------
    list of AccountHarvest
        One per scanned account, by account id: the core's proposals, blocks and skips.
    """
    chosen = None if account_ids is None else set(account_ids)
    accounts = _book_accounts(chosen)
    scanned_rows = [
        (pk, household)
        for pk, household, account_type, active, _, _ in accounts
        if active and account_type == AccountType.TAXABLE and (chosen is None or pk in chosen)
    ]
    household_ids = None if chosen is None else {household for _, household in scanned_rows}
    if not scanned_rows:
        return []
    universe = _Universe(as_of=as_of, prices=prices)
    policy, min_loss_fraction = _firm_policy(firm or FirmSettings.current())
    households = _households(
        household_ids,
        accounts=accounts,
        as_of=as_of,
        excluded_by_household=excluded_by_household,
        pending_orders=pending_orders,
        identity_groups=universe.identity_groups,
    )
    scanner = _Scanner(
        as_of=as_of,
        universe=universe,
        households=households,
        scanned={pk for pk, _ in scanned_rows},
        policy=policy,
        min_loss_fraction=min_loss_fraction,
    )
    results: list[AccountHarvest] = []
    seen: set[int] = set()
    for batch in _lot_batches(household_ids):
        found = scanner.scan_batch(batch)
        results.extend(found)
        seen.update(r.account_id for r in found)
    # Taxable accounts without open lots have nothing to harvest.
    results.extend(scanner.empty(pk, household) for pk, household in scanned_rows if pk not in seen)
    return sorted(results, key=lambda r: r.account_id)
