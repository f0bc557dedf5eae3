"""The market a backtest replays: daily closes (and volumes) with each asset's classification.

Sources
-------
* a price file, wide or long (:func:`portfolios.core.price_import.parse_price_csv`), classified by
  :data:`STOCK_CLASSIFICATION` for the symbols it knows (the 20 US stocks of the shared price
  file) and as unrated US equities otherwise;
* the platform's own prices and assets (the demo market, or any imported prices).

Prices in files carry no volume. The simulated exchange sizes its book from the 20-day volume and
the recommender picks each replacement group's most traded member, so bars without volume get a
nominal dollar volume (:data:`PRIMARY_DOLLAR_VOLUME` for the first member of each group in
:data:`STOCK_CLASSIFICATION`, :data:`DEFAULT_DOLLAR_VOLUME` for the others): ``volume = dollar
volume / close``, the depth of a liquid large-cap stock.

Markets without a bond or cash asset get :data:`CASH_SYMBOL`, a synthetic cash-like asset whose
price grows at the account's cash rate (:func:`backtests.core.markets.constant_growth`); the
60/40 strategy holds it as its 40%.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backtests.core.markets import constant_growth
from portfolios.core.errors import InvalidInput
from portfolios.core.price_import import ParsedPrices, parse_price_csv

CASH_SYMBOL = "CASHX"
PRIMARY_DOLLAR_VOLUME = 1_000_000_000.0
DEFAULT_DOLLAR_VOLUME = 500_000_000.0
NEUTRAL_ESG = 50


@dataclass(frozen=True)
class AssetSpec:
    """How an asset is classified in the backtest's universe (the fields of ``Asset``)."""

    symbol: str
    name: str = ""
    security_type: str = "stock"
    asset_class: str = "us_equity"
    sector: str = ""
    esg_score: int | None = NEUTRAL_ESG
    exclusion_tags: tuple[str, ...] = ()
    identity_group: str = ""
    replacement_group: str = ""
    fractionable: bool = True
    dollar_volume: float = DEFAULT_DOLLAR_VOLUME

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["exclusion_tags"] = list(self.exclusion_tags)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssetSpec:
        values = dict(data)
        values["exclusion_tags"] = tuple(values.get("exclusion_tags") or ())
        return cls(**values)


def _stock(
    symbol: str,
    name: str,
    sector: str,
    group: str,
    *,
    primary: bool = False,
    tags: Sequence[str] = (),
) -> AssetSpec:
    return AssetSpec(
        symbol=symbol,
        name=name,
        sector=sector,
        replacement_group=group,
        exclusion_tags=tuple(tags),
        dollar_volume=PRIMARY_DOLLAR_VOLUME if primary else DEFAULT_DOLLAR_VOLUME,
    )


#: The 20 US stocks of the shared price file: sector, and replacement groups that pair similar
#: (never substantially identical) stocks, so a harvest sells one and buys its pair. The first
#: member of each group is its primary (the one the recommender holds). ESG scores are a neutral
#: constant (the file has none); energy producers carry the fossil-fuel exclusion tag.
STOCK_CLASSIFICATION: Mapping[str, AssetSpec] = {
    s.symbol: s
    for s in (
        _stock("JPM", "JPMorgan Chase", "Financials", "us-banks", primary=True),
        _stock("BAC", "Bank of America", "Financials", "us-banks"),
        _stock("MA", "Mastercard", "Financials", "payments", primary=True),
        _stock("XOM", "Exxon Mobil", "Energy", "us-energy", primary=True, tags=["fossil_fuels"]),
        _stock("RRC", "Range Resources", "Energy", "us-energy", tags=["fossil_fuels"]),
        _stock("WMT", "Walmart", "Consumer Staples", "us-retail", primary=True),
        _stock("BBY", "Best Buy", "Consumer Discretionary", "us-retail"),
        _stock("SHLD", "Sears Holdings", "Consumer Discretionary", "us-retail"),
        _stock("GOOG", "Alphabet", "Communication Services", "internet", primary=True),
        _stock("FB", "Facebook", "Communication Services", "internet"),
        _stock("AMZN", "Amazon", "Consumer Discretionary", "ecommerce", primary=True),
        _stock("BABA", "Alibaba", "Consumer Discretionary", "ecommerce"),
        _stock("AAPL", "Apple", "Information Technology", "tech-hardware", primary=True),
        _stock("AMD", "Advanced Micro Devices", "Information Technology", "tech-hardware"),
        _stock("GE", "General Electric", "Industrials", "industrials", primary=True),
        _stock("GM", "General Motors", "Consumer Discretionary", "industrials"),
        _stock("SBUX", "Starbucks", "Consumer Discretionary", "consumer-brands", primary=True),
        _stock("UAA", "Under Armour", "Consumer Discretionary", "consumer-brands"),
        _stock("PFE", "Pfizer", "Health Care", "defensive", primary=True),
        _stock("T", "AT&T", "Communication Services", "defensive"),
    )
}


def _as_index(days: Iterable[Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(days))).normalize().as_unit("ns")


@dataclass(frozen=True)
class MarketData:
    """Daily closes (date x symbol, NaN where an asset has no bar) and what each asset is.

    ``volumes`` has the same shape when the source had volumes (NaN or 0: none that day);
    ``benchmark`` is an optional index for comparisons and volatility regimes (a column of
    ``closes`` or a separate series such as SPY).
    """

    name: str
    closes: pd.DataFrame
    assets: Mapping[str, AssetSpec]
    volumes: pd.DataFrame | None = None
    benchmark: pd.Series | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        closes = self.closes.astype(float).sort_index()
        closes.index = _as_index(closes.index)
        if closes.empty or closes.shape[1] == 0:
            raise InvalidInput("the market has no prices", field="prices")
        if closes.index.has_duplicates:
            raise InvalidInput("the market has a date twice", field="prices")
        values = closes.to_numpy()
        bad = np.isfinite(values) & (values <= 0)
        if bad.any() or np.isinf(values).any():
            raise InvalidInput("closes must be positive and finite", field="prices")
        missing = [s for s in closes.columns if s not in self.assets]
        if missing:
            raise InvalidInput(f"no classification for {', '.join(missing)}", field="assets")
        object.__setattr__(self, "closes", closes)
        object.__setattr__(self, "assets", {s: self.assets[s] for s in closes.columns})
        if self.volumes is not None:
            volumes = self.volumes.astype(float)
            volumes.index = _as_index(volumes.index)
            volumes = volumes.reindex_like(closes)
            object.__setattr__(self, "volumes", volumes)
        if self.benchmark is not None:
            bench = self.benchmark.astype(float).dropna().sort_index()
            bench.index = _as_index(bench.index)
            object.__setattr__(self, "benchmark", bench)

    @property
    def days(self) -> list[date]:
        return [d.date() for d in self.closes.index]

    def trading_days(self, start: date, end: date) -> list[date]:
        return [d for d in self.days if start <= d <= end]

    def window(self, start: date, end: date) -> MarketData:
        """The market between two dates (inclusive)."""
        mask = (self.closes.index >= pd.Timestamp(start)) & (self.closes.index <= pd.Timestamp(end))
        closes = self.closes.loc[mask].dropna(axis=1, how="all")
        if closes.empty:
            raise InvalidInput(f"no prices between {start} and {end}", field="start")
        return replace(
            self,
            closes=closes,
            assets={s: self.assets[s] for s in closes.columns},
            volumes=None if self.volumes is None else self.volumes.loc[mask, list(closes.columns)],
            benchmark=None
            if self.benchmark is None
            else self.benchmark[
                (self.benchmark.index >= pd.Timestamp(start))
                & (self.benchmark.index <= pd.Timestamp(end))
            ],
        )

    def has_defensive_asset(self) -> bool:
        return any(a.asset_class in ("bond", "tips", "cash") for a in self.assets.values())

    def with_cash_asset(self, rate: float) -> MarketData:
        """The market with :data:`CASH_SYMBOL` added (unless it has a bond or cash asset)."""
        if self.has_defensive_asset():
            return self
        cash_closes = constant_growth(self.days, rate=rate)
        closes = self.closes.copy()
        closes[CASH_SYMBOL] = cash_closes.to_numpy()
        spec = AssetSpec(
            symbol=CASH_SYMBOL,
            name=f"Synthetic cash ({rate:.1%} a year, no volatility)",
            security_type="etf",
            asset_class="cash",
            sector="Cash",
            dollar_volume=PRIMARY_DOLLAR_VOLUME,
        )
        volumes = None
        if self.volumes is not None:
            volumes = self.volumes.copy()
            volumes[CASH_SYMBOL] = np.nan
        return replace(
            self,
            closes=closes,
            assets={**self.assets, CASH_SYMBOL: spec},
            volumes=volumes,
            notes=(
                *self.notes,
                f"{CASH_SYMBOL} is a synthetic cash asset growing {rate:.2%} a year (no bond or "
                "cash asset in the data); its gains are taxed as capital gains when sold.",
            ),
        )

    def volume_frame(self) -> pd.DataFrame:
        """Shares traded per bar: the source's volume where it has one, else the nominal dollar
        volume over the close (see the module docstring)."""
        nominal = pd.DataFrame(
            {s: self.assets[s].dollar_volume / self.closes[s] for s in self.closes.columns},
            index=self.closes.index,
        )
        if self.volumes is None:
            return nominal.round()
        given = self.volumes.where(self.volumes > 0)
        return given.fillna(nominal).round()

    def perturbed_after(self, day: date, *, seed: int, scale: float = 0.2) -> MarketData:
        """The same market with every close after ``day`` multiplied by a random factor in
        ``exp(N(0, scale))`` (a look-ahead probe: nothing decided up to ``day`` may change)."""
        rng = np.random.default_rng(seed)
        closes = self.closes.copy()
        later = closes.index > pd.Timestamp(day)
        factors = np.exp(rng.normal(0.0, scale, size=(int(later.sum()), closes.shape[1])))
        closes.loc[later] = closes.loc[later].to_numpy() * factors
        benchmark = self.benchmark
        if benchmark is not None:
            benchmark = benchmark.copy()
            after = benchmark.index > pd.Timestamp(day)
            benchmark.loc[after] = benchmark.loc[after].to_numpy() * np.exp(
                rng.normal(0.0, scale, size=int(after.sum()))
            )
        return replace(self, closes=closes, benchmark=benchmark)

    # --- files ---------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the market to ``folder`` (CSV frames and a JSON description)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.closes.to_csv(folder / "closes.csv", index_label="date", float_format="%.10g")
        if self.volumes is not None:
            self.volumes.to_csv(folder / "volumes.csv", index_label="date", float_format="%.10g")
        if self.benchmark is not None:
            self.benchmark.rename(str(self.benchmark.name or "benchmark")).to_csv(
                folder / "benchmark.csv", index_label="date", float_format="%.10g"
            )
        description = {
            "name": self.name,
            "assets": [spec.as_dict() for spec in self.assets.values()],
            "notes": list(self.notes),
        }
        (folder / "market.json").write_text(json.dumps(description, indent=1))

    @classmethod
    def load(cls, folder: Path) -> MarketData:
        description = json.loads((folder / "market.json").read_text())
        closes = pd.read_csv(folder / "closes.csv", index_col="date", parse_dates=True)
        volumes = (
            pd.read_csv(folder / "volumes.csv", index_col="date", parse_dates=True)
            if (folder / "volumes.csv").exists()
            else None
        )
        benchmark = (
            pd.read_csv(folder / "benchmark.csv", index_col="date", parse_dates=True).iloc[:, 0]
            if (folder / "benchmark.csv").exists()
            else None
        )
        closes.columns = [str(c) for c in closes.columns]
        return cls(
            name=description["name"],
            closes=closes,
            assets={a["symbol"]: AssetSpec.from_dict(a) for a in description["assets"]},
            volumes=volumes,
            benchmark=benchmark,
            notes=tuple(description.get("notes", ())),
        )


def parsed_to_frames(parsed: ParsedPrices) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Closes and volumes (date x symbol) of parsed price rows."""
    if not parsed.bars:
        raise InvalidInput("the file has no prices", field="file")
    records = [(b.date, b.symbol, float(b.close), float(b.volume)) for b in parsed.bars]
    frame = pd.DataFrame.from_records(records, columns=["date", "symbol", "close", "volume"])
    closes = frame.pivot(index="date", columns="symbol", values="close").sort_index()
    volumes = frame.pivot(index="date", columns="symbol", values="volume").sort_index()
    return closes, volumes


def read_price_file(path: Path, *, today: date) -> ParsedPrices:
    """Parse a price file; any bad row fails the whole file with every problem listed."""
    if not path.is_file():
        raise InvalidInput(f"no price file at {path}", field="prices")
    with path.open(newline="") as handle:
        parsed = parse_price_csv(handle, today=today)
    if parsed.errors:
        raise InvalidInput(
            f"{path.name}: {len(parsed.errors)} bad row(s)",
            field="prices",
            details=[str(e) for e in parsed.errors[:50]],
        )
    return parsed


def market_from_file(
    path: Path,
    *,
    today: date,
    benchmark_path: Path | None = None,
    classification: Mapping[str, AssetSpec] = STOCK_CLASSIFICATION,
    name: str | None = None,
) -> MarketData:
    """A market from a wide or long price file, classified by ``classification`` (unknown
    symbols: unrated US equities without a replacement group)."""
    closes, volumes = parsed_to_frames(read_price_file(path, today=today))
    assets = {
        s: classification.get(s) or AssetSpec(symbol=s, name=s, esg_score=None)
        for s in closes.columns
    }
    benchmark = None
    notes: list[str] = []
    if benchmark_path is not None:
        bench_closes, _ = parsed_to_frames(read_price_file(benchmark_path, today=today))
        if bench_closes.shape[1] != 1:
            raise InvalidInput("the benchmark file must hold one symbol", field="benchmark")
        benchmark = bench_closes.iloc[:, 0]
        notes.append(f"Benchmark: {bench_closes.columns[0]} from {benchmark_path.name}.")
    unknown = sorted(s for s in closes.columns if s not in classification)
    if unknown:
        notes.append(f"Unclassified (US equity, no replacement group): {', '.join(unknown)}.")
    has_volume = bool((volumes.fillna(0) > 0).any().any())
    if not has_volume:
        notes.append(
            "The file has closes only: bars carry a nominal dollar volume (see backtests.market)."
        )
    return MarketData(
        name=name or path.stem,
        closes=closes,
        assets=assets,
        volumes=volumes if has_volume else None,
        benchmark=benchmark,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class MarketSource:
    """Where a study's market comes from: ``file`` (a price file on the machine that runs the
    backtest) or ``database`` (the platform's prices; ``demo_only`` keeps the demo universe)."""

    kind: str
    path: str = ""
    benchmark_path: str = ""
    symbols: tuple[str, ...] = field(default_factory=tuple)
    demo_only: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("file", "database"):
            raise InvalidInput(f"market source is 'file' or 'database', not {self.kind!r}")
        if self.kind == "file" and not self.path:
            raise InvalidInput("a file market needs a path", field="path")
        object.__setattr__(self, "symbols", tuple(s.upper() for s in self.symbols))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["symbols"] = list(self.symbols)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarketSource:
        values = dict(data)
        values["symbols"] = tuple(values.get("symbols") or ())
        return cls(**values)

    def describe(self) -> str:
        if self.kind == "file":
            return f"prices from {Path(self.path).name}"
        return "the demo market" if self.demo_only else "the platform's prices"
