"""Cross-venue price gaps: one asset quoted on several venues, net of every cost of the round trip.

Buying ``q`` units at venue i's ask and selling them at venue j's bid earns per unit

    bid_j (1 - fee_j) - ask_i (1 + fee_i) - transfer_cost / q

with taker fees in basis points of the traded value and a fixed cost for moving the units from i
to j. ``q`` is the quantity asked for, limited by the displayed sizes when they are given. The
gap is only a signal when that is positive; it says nothing about where the asset's price goes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from portfolios.core.errors import InvalidInput
from signals.core.timeseries import require_aware, require_frame, to_datetime, up_to
from signals.core.types import Signal, SignalKind

QUOTE_COLUMNS = ("bid", "ask", "taker_fee_bps")
SIZE_COLUMNS = ("bid_size", "ask_size")


@dataclass(frozen=True)
class VenueGap:
    """The best buy-low, sell-high round trip across venues, after all costs.

    Attributes
    ----------
    buy_venue, sell_venue : str
    buy_price, sell_price : float
        The ask paid and the bid received.
    quantity : float
        Units traded.
    gross_per_unit : float
        ``sell_price - buy_price``.
    fees_per_unit : float
        Taker fees on both legs.
    transfer_per_unit : float
        ``transfer_cost / quantity``.
    net_per_unit : float
        What is left per unit; positive.
    net_return : float
        ``net_per_unit`` over the cash spent per unit (ask plus fee).
    net_profit : float
        ``net_per_unit * quantity``.
    """

    buy_venue: str
    sell_venue: str
    buy_price: float
    sell_price: float
    quantity: float
    gross_per_unit: float
    fees_per_unit: float
    transfer_per_unit: float
    net_per_unit: float
    net_return: float
    net_profit: float


def _require_quotes(quotes: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(quotes, pd.DataFrame):
        raise InvalidInput("quotes must be a pandas DataFrame", field="quotes")
    if "venue" not in quotes.columns:
        raise InvalidInput("quotes lack the column venue", field="quotes")
    missing = [c for c in QUOTE_COLUMNS if c not in quotes.columns]
    if missing:
        raise InvalidInput(f"quotes lack the columns {', '.join(missing)}", field="quotes")
    columns = [*QUOTE_COLUMNS, *(c for c in SIZE_COLUMNS if c in quotes.columns)]
    try:
        numbers = quotes[columns].astype("float64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput("quotes must hold numbers", field="quotes") from exc
    if not np.isfinite(numbers.to_numpy()).all():
        raise InvalidInput("quotes have a missing or infinite number", field="quotes")
    if (numbers[["bid", "ask"]].to_numpy() <= 0).any():
        raise InvalidInput("quoted prices must be positive", field="quotes")
    if (numbers["bid"] > numbers["ask"]).any():
        venue = quotes["venue"][numbers["bid"] > numbers["ask"]].iloc[0]
        raise InvalidInput(f"the quote on {venue} is crossed (bid above ask)", field="quotes")
    if ((numbers["taker_fee_bps"] < 0) | (numbers["taker_fee_bps"] >= 10_000)).any():
        raise InvalidInput("taker fees must be in [0, 10000) basis points", field="quotes")
    for size in SIZE_COLUMNS:
        if size in numbers.columns and (numbers[size] < 0).any():
            raise InvalidInput(f"quoted {size} cannot be negative", field="quotes")
    numbers.insert(0, "venue", quotes["venue"].astype(str).to_numpy())
    return numbers


def best_venue_gap(
    quotes: pd.DataFrame, *, transfer_cost: float, quantity: float
) -> VenueGap | None:
    """The most profitable round trip between two venues after fees and transfer, or ``None``.

    Parameters
    ----------
    quotes : pd.DataFrame, shape (V, >=4)
        One row per venue: ``venue``, ``bid``, ``ask``, ``taker_fee_bps`` and optionally
        ``bid_size`` and ``ask_size`` (units displayed at those prices).
    transfer_cost : float
        Fixed cost, in the quote currency, of moving the units between venues.
    quantity : float
        Units to trade (less if the displayed sizes are smaller).

    Returns
    -------
    VenueGap or None
        ``None`` when fewer than two venues quote or no round trip makes money.
    """
    if not (math.isfinite(transfer_cost) and transfer_cost >= 0):
        raise InvalidInput(
            f"transfer cost must be >= 0, got {transfer_cost!r}", field="transfer_cost"
        )
    if not (math.isfinite(quantity) and quantity > 0):
        raise InvalidInput(f"quantity must be positive, got {quantity!r}", field="quantity")
    table = _require_quotes(quotes)
    if table["venue"].duplicated().any():
        venue = table["venue"][table["venue"].duplicated()].iloc[0]
        raise InvalidInput(f"venue {venue} is quoted more than once", field="quotes")
    if len(table) < 2:
        return None
    bid = table["bid"].to_numpy()
    ask = table["ask"].to_numpy()
    fee = table["taker_fee_bps"].to_numpy() / 10_000.0
    buy_size = table["ask_size"].to_numpy() if "ask_size" in table else np.full(len(table), np.inf)
    sell_size = table["bid_size"].to_numpy() if "bid_size" in table else np.full(len(table), np.inf)
    # rows: buy venue i; columns: sell venue j
    units = np.minimum(np.minimum(buy_size[:, None], sell_size[None, :]), quantity)
    gross = bid[None, :] - ask[:, None]
    fees = bid[None, :] * fee[None, :] + ask[:, None] * fee[:, None]
    with np.errstate(divide="ignore"):
        transfer = np.where(units > 0, transfer_cost / units, np.inf)
    net = gross - fees - transfer
    profit = np.where(units > 0, net * units, -np.inf)
    np.fill_diagonal(profit, -np.inf)
    i, j = np.unravel_index(int(np.argmax(profit)), profit.shape)
    if not profit[i, j] > 0:
        return None
    cost_per_unit = ask[i] * (1.0 + fee[i])
    return VenueGap(
        buy_venue=str(table["venue"].iloc[i]),
        sell_venue=str(table["venue"].iloc[j]),
        buy_price=float(ask[i]),
        sell_price=float(bid[j]),
        quantity=float(units[i, j]),
        gross_per_unit=float(gross[i, j]),
        fees_per_unit=float(fees[i, j]),
        transfer_per_unit=float(transfer[i, j]),
        net_per_unit=float(net[i, j]),
        net_return=float(net[i, j] / cost_per_unit),
        net_profit=float(profit[i, j]),
    )


def cross_venue_signal(
    quotes: pd.DataFrame,
    *,
    asset: str,
    as_of: datetime,
    transfer_cost: float,
    quantity: float,
    max_quote_age: timedelta | None = None,
) -> Signal | None:
    """The best net cross-venue gap at ``as_of``, or ``None`` when no round trip pays.

    Parameters
    ----------
    quotes : pd.DataFrame, shape (N, >=4)
        Quote updates indexed by timestamp (sorted), columns as for :func:`best_venue_gap`; the
        latest quote of each venue at or before ``as_of`` is used.
    max_quote_age : timedelta, optional
        Quotes older than this at ``as_of`` are ignored as stale.

    The signal's ``value`` is the net return of the round trip (a fraction of the cash spent) and
    its confidence the share of the gross gap that survives the costs.
    """
    stamp = require_aware(as_of)
    require_frame(quotes, name="quotes", columns=QUOTE_COLUMNS, unique_index=False)
    quotes = up_to(quotes, as_of, name="quotes")
    latest = quotes.groupby("venue", sort=False).tail(1)
    if max_quote_age is not None:
        latest = latest.loc[latest.index >= stamp - pd.Timedelta(max_quote_age)]
    if latest.empty:
        return None
    gap = best_venue_gap(latest, transfer_cost=transfer_cost, quantity=quantity)
    if gap is None:
        return None
    used = latest.loc[latest["venue"].astype(str).isin([gap.buy_venue, gap.sell_venue])]
    return Signal(
        asset=asset,
        kind=SignalKind.CROSS_VENUE_GAP,
        value=gap.net_return,
        confidence=min(1.0, max(0.0, gap.net_per_unit / gap.gross_per_unit)),
        as_of=as_of,
        window_start=to_datetime(used.index.min()),
        window_end=to_datetime(used.index.max()),
        details={
            "buy_venue": gap.buy_venue,
            "sell_venue": gap.sell_venue,
            "buy_price": gap.buy_price,
            "sell_price": gap.sell_price,
            "quantity": gap.quantity,
            "net_per_unit": gap.net_per_unit,
            "net_profit": gap.net_profit,
        },
    )
