"""Tax-loss harvesting: which lots of a taxable account to sell at a loss, and what to buy instead.

For each lot with an unrealised loss the net benefit of harvesting it is

    allowed loss * rate(term) - (commission + half-spread) on the sale
                              - (commission + half-spread) on the replacement purchase

where the *allowed* loss is the part that the household's acquisitions of the last 30 days and
its pending purchases would not wash (the sale is run through the same wash-sale matching as
real sales, :func:`~portfolios.core.tax.wash_sales.wash_sale`), and the rate is the client's
short-term or long-term rate for the lot's term on the sale date. A lot is harvested when its net
benefit exceeds both minimums of the :class:`HarvestPolicy` (dollars, and a fraction of the lot's
market value). Each lot is judged as if it paid both commissions alone, so a lot never rides on
another; the proposal for an asset then pays the two commissions once. Dropping a lot that does
not qualify can wash the others (if it was bought in the last 30 days it stays as a replacement),
so the selection repeats until it is stable; and a recent loss lot that does not qualify on its
own is also tried as part of the sale (``sold_to_avoid_wash``), keeping whichever harvest of the
asset has the larger net benefit.

All qualifying loss lots of one asset form one :class:`HarvestProposal`: one sale (specific
identification, lots in the order listed) paired with a purchase of the same dollar amount of a
replacement from the asset's replacement group that is not substantially identical to anything
sold, not blocked, not excluded and would not itself wash a recent loss. Selling the asset blocks
its identity group for every purchase path of the household for 30 days
(:class:`WashSaleBlock`, :func:`is_blocked`).

Speed: :func:`screen_harvest_lots` screens any number of lots at once on numpy float arrays,
with a slack that makes it an upper bound (it never drops a lot the exact pass would keep);
only the lots that pass reach the exact ``Decimal`` evaluation, which is authoritative.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np
import numpy.typing as npt

from portfolios.core.errors import InvalidInput
from portfolios.core.money import CASH_QUANT, QUANTITY_QUANT, ROUNDING, ZERO
from portfolios.core.tax.accounts import AccountType, TaxRates
from portfolios.core.tax.holding import WASH_SALE_WINDOW_DAYS, Term
from portfolios.core.tax.lots import RealisedLot, TaxLot, require_money
from portfolios.core.tax.wash_sales import (
    Household,
    PendingPurchase,
    identity_key,
    in_wash_sale_window,
    wash_sale,
)

_BPS = Decimal("0.0001")
_SCREEN_SLACK_CASH = 0.05
_SCREEN_SLACK_RELATIVE = 1e-9


@dataclass(frozen=True, slots=True)
class HarvestPolicy:
    """The firm's harvesting settings.

    Attributes
    ----------
    commission_per_trade
        Cash commission of one trade; a harvest pays it twice (sell and buy).
    min_benefit
        A lot's net benefit must exceed this many dollars.
    min_benefit_fraction
        ...and this fraction of the lot's market value (0.01 for 1 %).
    default_half_spread_bps
        Half-spread in basis points for assets missing from the spreads given to the scan.
    """

    commission_per_trade: Decimal = ZERO
    min_benefit: Decimal = ZERO
    min_benefit_fraction: Decimal = ZERO
    default_half_spread_bps: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in (
            "commission_per_trade",
            "min_benefit",
            "min_benefit_fraction",
            "default_half_spread_bps",
        ):
            require_money(getattr(self, name), name=name)


@dataclass(frozen=True, slots=True)
class ReplacementCandidate:
    """An asset harvesting may buy instead, with its price; candidates come in preference order."""

    symbol: str
    price: Decimal


@dataclass(frozen=True, slots=True)
class ReplacementMenu:
    """Replacement candidates indexed by replacement group, in preference order.

    Build it once with :meth:`build` for a scan over many accounts; :func:`scan_harvest` also
    accepts the plain candidate list and builds it itself.
    """

    by_group: Mapping[str, tuple[ReplacementCandidate, ...]]

    @classmethod
    def build(
        cls, candidates: Sequence[ReplacementCandidate], replacement_groups: Mapping[str, str]
    ) -> ReplacementMenu:
        """Index ``candidates`` by their replacement group; candidates with none are dropped."""
        by_group: dict[str, list[ReplacementCandidate]] = {}
        for candidate in candidates:
            group = replacement_groups.get(candidate.symbol)
            if group is not None:
                by_group.setdefault(group, []).append(candidate)
        return cls(by_group={group: tuple(found) for group, found in by_group.items()})


@dataclass(frozen=True, slots=True)
class WashSaleBlock:
    """No purchase of ``symbol`` or its identity group from ``sold_on`` to ``blocked_until``.

    ``blocked_until`` is the sale date plus 30 days: the last day a purchase would wash the loss.
    """

    symbol: str
    identity_group: str | None
    sold_on: dt.date
    blocked_until: dt.date

    def applies_to(
        self, symbol: str, on: dt.date, identity_groups: Mapping[str, str] | None = None
    ) -> bool:
        """Whether buying ``symbol`` on ``on`` is blocked by this block."""
        if not self.sold_on <= on <= self.blocked_until:
            return False
        if symbol == self.symbol:
            return True
        group = identity_groups.get(symbol) if identity_groups else None
        if group is None:
            return False
        if group == self.identity_group:
            return True
        return identity_key(self.symbol, identity_groups) == identity_key(symbol, identity_groups)


def wash_sale_block(
    symbol: str, *, sold_on: dt.date, identity_groups: Mapping[str, str] | None = None
) -> WashSaleBlock:
    """The block a loss sale of ``symbol`` on ``sold_on`` puts on the household's purchases."""
    return WashSaleBlock(
        symbol=symbol,
        identity_group=identity_groups.get(symbol) if identity_groups else None,
        sold_on=sold_on,
        blocked_until=sold_on + dt.timedelta(days=WASH_SALE_WINDOW_DAYS),
    )


def is_blocked(
    symbol: str,
    on: dt.date,
    blocks: Sequence[WashSaleBlock],
    identity_groups: Mapping[str, str] | None = None,
) -> bool:
    """Whether any of ``blocks`` forbids buying ``symbol`` on ``on``, in any household account."""
    return any(block.applies_to(symbol, on, identity_groups) for block in blocks)


@dataclass(frozen=True, slots=True)
class HarvestLot:
    """The exact evaluation of harvesting one lot on the scan date.

    ``unrealised_loss`` is the cost basis minus the market value; ``washed_quantity`` and
    ``disallowed_loss`` are what recent and pending acquisitions would wash; ``tax_benefit`` is
    the allowed loss times the rate; ``trading_cost`` both commissions and both half-spreads.
    ``qualifies`` says whether ``net_benefit`` exceeds the policy's minimums. A lot that does
    not, but was bought in the last 30 days, may still be sold with the others
    (``sold_to_avoid_wash``): kept, it would be a replacement and wash their losses; it is sold
    only when that gives the asset's harvest a larger net benefit.
    """

    lot_id: str
    quantity: Decimal
    market_value: Decimal
    cost_basis: Decimal
    unrealised_loss: Decimal
    washed_quantity: Decimal
    disallowed_loss: Decimal
    allowed_loss: Decimal
    term: Term
    rate: Decimal
    tax_benefit: Decimal
    trading_cost: Decimal
    net_benefit: Decimal
    qualifies: bool = True
    sold_to_avoid_wash: bool = False


@dataclass(frozen=True, slots=True)
class HarvestProposal:
    """Sell these loss lots of one asset and buy the replacement for the same dollar amount.

    ``lots`` are in the order to name them in the sale (specific identification): the lots with
    the least benefit per share first, so any washing falls on them. ``trading_cost`` pays the
    two commissions once; ``net_benefit`` is ``tax_benefit - trading_cost``.
    """

    account_id: str
    symbol: str
    sold_on: dt.date
    lots: tuple[HarvestLot, ...]
    quantity: Decimal
    market_value: Decimal
    allowed_loss: Decimal
    tax_benefit: Decimal
    trading_cost: Decimal
    net_benefit: Decimal
    replacement_symbol: str
    replacement_price: Decimal
    replacement_quantity: Decimal
    block: WashSaleBlock


@dataclass(frozen=True, slots=True)
class HarvestSkip:
    """An asset with unrealised losses that is not harvested, and why."""

    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class HarvestScan:
    """The result of scanning one account: proposals by symbol, their blocks, and the skips."""

    account_id: str
    as_of: dt.date
    proposals: tuple[HarvestProposal, ...]
    blocks: tuple[WashSaleBlock, ...]
    skipped: tuple[HarvestSkip, ...]


def screen_harvest_lots(
    *,
    quantity: npt.ArrayLike,
    cost_basis: npt.ArrayLike,
    price: npt.ArrayLike,
    long_term: npt.ArrayLike,
    short_term_rate: npt.ArrayLike,
    long_term_rate: npt.ArrayLike,
    commission_per_trade: npt.ArrayLike = 0.0,
    sell_half_spread_bps: npt.ArrayLike = 0.0,
    buy_half_spread_bps: npt.ArrayLike = 0.0,
    min_benefit: npt.ArrayLike = 0.0,
    min_benefit_fraction: npt.ArrayLike = 0.0,
) -> npt.NDArray[np.bool_]:
    """Screen many lots at once for harvesting, in float64: an upper bound on the exact test.

    It ignores wash sales (which only lower the benefit) and adds a slack of 5 cents plus 1e-9
    of the amounts to the net benefit, more than the cent rounding of the exact pass and the
    float error, so no lot that the exact ``Decimal`` evaluation would harvest is screened out.
    Every argument broadcasts against the shape of ``quantity``.

    Parameters
    ----------
    quantity, cost_basis, price
        Shares, total cost basis and current price per lot, shape (n,).
    long_term
        Whether each lot would be long-term if sold on the scan date, shape (n,)
        (see :func:`~portfolios.core.tax.holding.long_term_mask`).
    short_term_rate, long_term_rate
        The client's rates, scalars or shape (n,).
    commission_per_trade
        Cash per trade, scalar or shape (n,); each lot is charged two.
    sell_half_spread_bps, buy_half_spread_bps
        Half-spreads of the asset sold and of its replacement, in basis points.
    min_benefit, min_benefit_fraction
        The policy's minimums.

    Returns
    -------
    numpy.ndarray
        Booleans, shape (n,): the lots worth evaluating exactly.
    """
    qty = np.asarray(quantity, dtype=np.float64)
    basis = np.asarray(cost_basis, dtype=np.float64)
    value = qty * np.asarray(price, dtype=np.float64)
    loss = basis - value
    rate = np.where(
        np.asarray(long_term, dtype=bool),
        np.asarray(long_term_rate, dtype=np.float64),
        np.asarray(short_term_rate, dtype=np.float64),
    )
    spread = (
        np.asarray(sell_half_spread_bps, dtype=np.float64)
        + np.asarray(buy_half_spread_bps, dtype=np.float64)
    ) * 1e-4
    cost = 2.0 * np.asarray(commission_per_trade, dtype=np.float64) + value * spread
    net = loss * rate - cost
    slack = _SCREEN_SLACK_CASH + _SCREEN_SLACK_RELATIVE * (np.abs(basis) + np.abs(value))
    upper = net + slack
    return (
        (loss + slack > 0)
        & (upper > np.asarray(min_benefit, dtype=np.float64))
        & (upper > np.asarray(min_benefit_fraction, dtype=np.float64) * value)
    )


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CASH_QUANT, rounding=ROUNDING)


class _Scan:
    """The inputs of one account's scan, with the exact per-lot arithmetic (values cached)."""

    def __init__(
        self,
        *,
        account_id: str,
        household_lots: Sequence[TaxLot],
        prices: Mapping[str, Decimal],
        as_of: dt.date,
        rates: TaxRates,
        policy: HarvestPolicy,
        spreads: Mapping[str, Decimal],
        household: Household,
        pending_purchases: Sequence[PendingPurchase],
    ) -> None:
        self.account_id = account_id
        self.prices = prices
        self.as_of = as_of
        self.rates = rates
        self.policy = policy
        self.spreads = spreads
        self.household = household
        self._values: dict[int, Decimal] = {}
        self._terms: dict[int, Term] = {}
        # Only unused acquisitions within 30 days of the sale can wash it.
        first = as_of - dt.timedelta(days=WASH_SALE_WINDOW_DAYS)
        last = as_of + dt.timedelta(days=WASH_SALE_WINDOW_DAYS)
        self._replacements: dict[str, list[TaxLot]] = {}
        for lot in household_lots:
            if lot.replacement_for is None and first <= lot.acquired_on <= last:
                self._replacements.setdefault(household.key(lot.symbol), []).append(lot)
        self._pending: dict[str, list[PendingPurchase]] = {}
        for order in pending_purchases:
            self._pending.setdefault(household.key(order.symbol), []).append(order)

    def spread_bps(self, symbol: str) -> Decimal:
        return self.spreads.get(symbol, self.policy.default_half_spread_bps)

    def market_value(self, lot: TaxLot) -> Decimal:
        value = self._values.get(id(lot))
        if value is None:
            value = self._values[id(lot)] = _cents(lot.quantity * self.prices[lot.symbol])
        return value

    def term(self, lot: TaxLot) -> Term:
        term = self._terms.get(id(lot))
        if term is None:
            term = self._terms[id(lot)] = lot.term_on(self.as_of)
        return term

    def evaluate(
        self,
        lots: Sequence[TaxLot],
        buy_spread_bps: Decimal,
        helpers: Collection[int] = frozenset(),
    ) -> list[HarvestLot]:
        """Exact evaluation of selling ``lots`` (one asset) together, in this order."""
        washed: list[tuple[Decimal, Decimal]] = [(ZERO, ZERO)] * len(lots)
        if lots:
            key = self.household.key(lots[0].symbol)
            selling = {id(lot) for lot in lots}
            others = [lot for lot in self._replacements.get(key, ()) if id(lot) not in selling]
            pending = list(self._pending.get(key, ()))
            if others or pending:
                closures = [
                    RealisedLot(
                        record_id=f"harvest#{number}",
                        sale_id="harvest",
                        lot_id=lot.lot_id,
                        acquisition_id=lot.acquisition_id,
                        account_id=lot.account_id,
                        symbol=lot.symbol,
                        quantity=lot.quantity,
                        acquired_on=lot.acquired_on,
                        holding_acquired_on=lot.holding_acquired_on,
                        sold_on=self.as_of,
                        proceeds=self.market_value(lot),
                        cost_basis=lot.cost_basis,
                        term=self.term(lot),
                    )
                    for number, lot in enumerate(lots, start=1)
                ]
                wash_sale(closures, others, pending, self.household)
                washed = [(c.washed_quantity, c.wash_sale_disallowed) for c in closures]
        spread = (self.spread_bps(lots[0].symbol) + buy_spread_bps) * _BPS if lots else ZERO
        commissions = 2 * self.policy.commission_per_trade
        results: list[HarvestLot] = []
        for lot, (washed_quantity, disallowed) in zip(lots, washed, strict=True):
            value = self.market_value(lot)
            loss = lot.cost_basis - value
            allowed = loss - disallowed
            term = self.term(lot)
            rate = self.rates.rate(term)
            benefit = _cents(allowed * rate)
            cost = _cents(commissions + value * spread)
            net = benefit - cost
            qualifies = (
                loss > 0
                and net > self.policy.min_benefit
                and net > self.policy.min_benefit_fraction * value
            )
            results.append(
                HarvestLot(
                    lot_id=lot.lot_id,
                    quantity=lot.quantity,
                    market_value=value,
                    cost_basis=lot.cost_basis,
                    unrealised_loss=loss,
                    washed_quantity=washed_quantity,
                    disallowed_loss=disallowed,
                    allowed_loss=allowed,
                    term=term,
                    rate=rate,
                    tax_benefit=benefit,
                    trading_cost=cost,
                    net_benefit=net,
                    qualifies=qualifies,
                    sold_to_avoid_wash=not qualifies and id(lot) in helpers,
                )
            )
        return results

    def order(self, lots: Sequence[TaxLot]) -> list[TaxLot]:
        """Least tax benefit per share first: the lots any washing should fall on."""
        return sorted(
            lots,
            key=lambda lot: (
                (lot.cost_basis - self.market_value(lot))
                / lot.quantity
                * self.rates.rate(self.term(lot)),
                lot.acquired_on,
            ),
        )

    def settle(
        self, lots: Sequence[TaxLot], buy_spread_bps: Decimal, *, helpers: Collection[int]
    ) -> list[HarvestLot]:
        """Drop lots that do not qualify until the rest all do (or are helpers).

        Dropping a lot can only make the others' washing worse (it stays, and if it was bought
        in the last 30 days it becomes a replacement), so the loop ends within ``len(lots)``
        rounds.
        """
        selling = self.order(lots)
        while selling:
            results = self.evaluate(selling, buy_spread_bps, helpers)
            keep = [
                lot
                for lot, result in zip(selling, results, strict=True)
                if result.qualifies or result.sold_to_avoid_wash
            ]
            if len(keep) == len(selling):
                return results
            selling = keep
        return []


def _replacement_options(
    *,
    groups: Collection[str],
    as_of: dt.date,
    menu: ReplacementMenu,
    household: Household,
    blocks: Sequence[WashSaleBlock],
    excluded: Collection[str],
    recent_loss_keys: Collection[str],
) -> dict[str, list[tuple[ReplacementCandidate, str]]]:
    """Per replacement group, the candidates that may be bought, in preference order.

    A candidate is out when the client excluded it, it has no positive price, a block forbids
    it, or buying it would wash a loss the household realised in the last 30 days.
    """
    options: dict[str, list[tuple[ReplacementCandidate, str]]] = {}
    for group in groups:
        eligible = options[group] = []
        for candidate in menu.by_group.get(group, ()):
            if candidate.symbol in excluded or not candidate.price > 0:
                continue
            key = household.key(candidate.symbol)
            if key in recent_loss_keys:
                continue
            if is_blocked(candidate.symbol, as_of, blocks, household.identity_groups):
                continue
            eligible.append((candidate, key))
    return options


def scan_harvest(
    *,
    account_id: str,
    household_lots: Sequence[TaxLot],
    prices: Mapping[str, Decimal],
    as_of: dt.date,
    rates: TaxRates,
    account_types: Mapping[str, AccountType],
    replacement_groups: Mapping[str, str],
    candidates: Sequence[ReplacementCandidate] | ReplacementMenu,
    policy: HarvestPolicy | None = None,
    half_spread_bps: Mapping[str, Decimal] | None = None,
    identity_groups: Mapping[str, str] | None = None,
    pending_purchases: Sequence[PendingPurchase] = (),
    recent_realised: Sequence[RealisedLot] = (),
    blocks: Sequence[WashSaleBlock] = (),
    excluded: Collection[str] = frozenset(),
) -> HarvestScan:
    """Scan one taxable account for losses worth harvesting on ``as_of``.

    Parameters
    ----------
    account_id
        The taxable account to scan.
    household_lots
        Open lots of every account of the household (the account's own included): the scanned
        account's lots are the harvest candidates, the others can wash them.
    prices
        Current price per symbol for every asset the account holds.
    as_of
        The sale date.
    rates
        The client's short-term and long-term rates.
    account_types
        Account id to type for every account of the household.
    replacement_groups
        Symbol to replacement-group name: harvesting buys within the group.
    candidates
        Replacement candidates with prices, in preference order, or a :class:`ReplacementMenu`
        built from them once for many scans.
    policy
        Commissions and minimums; defaults to no costs and any positive benefit.
    half_spread_bps
        Half-spread per symbol in basis points (sold assets and candidates).
    identity_groups
        Symbol to identity-group name (substantially identical).
    pending_purchases
        The household's pending purchases: they wash like acquisitions.
    recent_realised
        The household's recent realised lots: a candidate whose purchase would wash one of their
        losses is not chosen.
    blocks
        Blocks in force from earlier harvests.
    excluded
        Symbols the client excluded: never bought.

    Returns
    -------
    HarvestScan
        One proposal per harvested asset (by symbol), one block per proposal, and the skips.
    """
    policy = policy or HarvestPolicy()
    household = Household(account_types, identity_groups)
    if household.account_type(account_id).is_tax_advantaged:
        raise InvalidInput(
            f"account {account_id} is not taxable: loss harvesting needs a taxable account",
            field="account_id",
        )
    spreads = half_spread_bps or {}
    account_lots = [lot for lot in household_lots if lot.account_id == account_id]
    for lot in account_lots:
        price = prices.get(lot.symbol)
        if price is None or not price.is_finite() or price <= 0:
            raise InvalidInput(f"no positive price for {lot.symbol}", field="prices")
    scan = _Scan(
        account_id=account_id,
        household_lots=household_lots,
        prices=prices,
        as_of=as_of,
        rates=rates,
        policy=policy,
        spreads=spreads,
        household=household,
        pending_purchases=pending_purchases,
    )
    loss_lots = [lot for lot in account_lots if scan.market_value(lot) < lot.cost_basis]
    loss_symbols = sorted({lot.symbol for lot in loss_lots})
    sold_keys = {household.key(symbol) for symbol in loss_symbols}
    recent_loss_keys = {
        household.key(record.symbol)
        for record in recent_realised
        if record.reportable
        and record.cost_basis > record.proceeds
        and record.unwashed_quantity > 0
        and in_wash_sale_window(as_of, record.sold_on)
    }
    options_by_group = _replacement_options(
        groups={
            replacement_groups[symbol] for symbol in loss_symbols if symbol in replacement_groups
        },
        as_of=as_of,
        menu=(
            candidates
            if isinstance(candidates, ReplacementMenu)
            else ReplacementMenu.build(candidates, replacement_groups)
        ),
        household=household,
        blocks=blocks,
        excluded=excluded,
        recent_loss_keys=recent_loss_keys,
    )
    skipped: list[HarvestSkip] = []
    replacements: dict[str, ReplacementCandidate] = {}
    for symbol in loss_symbols:
        group = replacement_groups.get(symbol)
        if group is None:
            skipped.append(HarvestSkip(symbol=symbol, reason=f"{symbol} has no replacement group"))
            continue
        # Never buy what is substantially identical to anything this account may sell.
        choice = next(
            (candidate for candidate, key in options_by_group[group] if key not in sold_keys),
            None,
        )
        if choice is None:
            reason = f"no eligible replacement for {symbol} in replacement group {group}"
            skipped.append(HarvestSkip(symbol=symbol, reason=reason))
        else:
            replacements[symbol] = choice
    screened = [lot for lot in loss_lots if lot.symbol in replacements]
    if screened:
        mask = screen_harvest_lots(
            quantity=[float(lot.quantity) for lot in screened],
            cost_basis=[float(lot.cost_basis) for lot in screened],
            price=[float(prices[lot.symbol]) for lot in screened],
            long_term=[scan.term(lot) is Term.LONG for lot in screened],
            short_term_rate=float(rates.short_term),
            long_term_rate=float(rates.long_term),
            commission_per_trade=float(policy.commission_per_trade),
            sell_half_spread_bps=[float(scan.spread_bps(lot.symbol)) for lot in screened],
            buy_half_spread_bps=[
                float(scan.spread_bps(replacements[lot.symbol].symbol)) for lot in screened
            ],
            min_benefit=float(policy.min_benefit),
            min_benefit_fraction=float(policy.min_benefit_fraction),
        )
        screened = [lot for lot, keep in zip(screened, mask, strict=True) if keep]
    proposals: list[HarvestProposal] = []
    for symbol in replacements:
        replacement = replacements[symbol]
        buy_spread = scan.spread_bps(replacement.symbol)
        own = [lot for lot in screened if lot.symbol == symbol]
        young = [
            lot
            for lot in loss_lots
            if lot.symbol == symbol and in_wash_sale_window(lot.acquired_on, as_of)
        ]
        options = [scan.settle(own, buy_spread, helpers=frozenset())]
        if young:
            chosen = {id(lot) for lot in own}
            options.append(
                scan.settle(
                    own + [lot for lot in young if id(lot) not in chosen],
                    buy_spread,
                    helpers=frozenset(id(lot) for lot in young),
                )
            )
        best: HarvestProposal | None = None
        for results in options:
            if all(result.sold_to_avoid_wash for result in results):
                continue
            proposal = _proposal(scan, symbol, results, replacement, buy_spread, identity_groups)
            if proposal.net_benefit > policy.min_benefit and (
                best is None or proposal.net_benefit > best.net_benefit
            ):
                best = proposal
        if best is None:
            skipped.append(
                HarvestSkip(symbol=symbol, reason="no lot's net benefit exceeds the minimum")
            )
        else:
            proposals.append(best)
    return HarvestScan(
        account_id=account_id,
        as_of=as_of,
        proposals=tuple(proposals),
        blocks=tuple(proposal.block for proposal in proposals),
        skipped=tuple(skipped),
    )


def _proposal(
    scan: _Scan,
    symbol: str,
    results: Sequence[HarvestLot],
    replacement: ReplacementCandidate,
    buy_spread_bps: Decimal,
    identity_groups: Mapping[str, str] | None,
) -> HarvestProposal:
    quantity = sum((result.quantity for result in results), ZERO)
    value = sum((result.market_value for result in results), ZERO)
    allowed = sum((result.allowed_loss for result in results), ZERO)
    benefit = sum((result.tax_benefit for result in results), ZERO)
    spread = (scan.spread_bps(symbol) + buy_spread_bps) * _BPS
    cost = _cents(2 * scan.policy.commission_per_trade + value * spread)
    return HarvestProposal(
        account_id=scan.account_id,
        symbol=symbol,
        sold_on=scan.as_of,
        lots=tuple(results),
        quantity=quantity,
        market_value=value,
        allowed_loss=allowed,
        tax_benefit=benefit,
        trading_cost=cost,
        net_benefit=benefit - cost,
        replacement_symbol=replacement.symbol,
        replacement_price=replacement.price,
        replacement_quantity=(value / replacement.price).quantize(
            QUANTITY_QUANT, rounding=ROUND_DOWN
        ),
        block=wash_sale_block(symbol, sold_on=scan.as_of, identity_groups=identity_groups),
    )
