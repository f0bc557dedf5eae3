"""Load the embedded demo (simulated market, households, logins) and keep its market ticking.

Everything here is labelled demo: assets and households carry ``is_demo``, bars ``source=demo``,
news a "(simulated)" source. The demo logins exist only when ``DEMO_MODE`` is on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from advisor.demo import (
    DEMO_HOUSEHOLDS,
    DEMO_UNIVERSE,
    MarketHistory,
    MarketTicker,
    NewsEvent,
    Tick,
    demo_holdings,
    simulate_history,
)
from advisor.demo.trading_calendar import previous_trading_day
from advisor.models import DemoMarketState, Role
from advisor.services.clients import (
    client_create,
    esg_preference_save,
    risk_profile_save,
    user_create,
)
from portfolios.core.errors import Conflict
from portfolios.core.money import PRICE_QUANT, price
from portfolios.live import household_group, publish_on_commit
from portfolios.models import (
    Account,
    AccountType,
    Asset,
    FilingStatus,
    Household,
    LotMethod,
    PriceBar,
)
from portfolios.services import account_valuations_record, cash_deposit, holding_transfer_in
from signals.services import IncomingNews, news_items_ingest

DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented demo login, demo mode only
DEMO_ADVISOR = "demo-advisor"
DEMO_ADMIN = "demo-admin"

_ACCOUNT_TYPES = {
    "taxable": AccountType.TAXABLE,
    "traditional_ira": AccountType.IRA,
    "roth_ira": AccountType.ROTH,
}
_FILING = {"single": FilingStatus.SINGLE, "married_filing_jointly": FilingStatus.MARRIED_JOINT}
#: Federal marginal rates (short-term = ordinary income) for the demo households' incomes.
_RATES = {
    "single": (Decimal("0.2400"), Decimal("0.1500")),
    "married_filing_jointly": (Decimal("0.3200"), Decimal("0.1500")),
}

#: Questionnaire answers that express each demo household's stated tolerance.
_ANSWERS: dict[str, dict[str, str]] = {
    "conservative": {
        "drawdown_reaction": "sell_some",
        "goal": "income",
        "outcome_range": "narrow",
        "experience": "some",
        "risk_attitude": "cautious",
        "income_stability": "stable",
        "emergency_fund": "3_to_6",
        "net_worth_share": "50_to_75",
        "near_term_withdrawals": "some",
    },
    "moderately_aggressive": {
        "drawdown_reaction": "hold",
        "goal": "growth",
        "outcome_range": "wide",
        "experience": "good",
        "risk_attitude": "balanced",
        "income_stability": "very_stable",
        "emergency_fund": "over_6",
        "net_worth_share": "25_to_50",
        "near_term_withdrawals": "none",
    },
    "aggressive": {
        "drawdown_reaction": "buy_more",
        "goal": "aggressive_growth",
        "outcome_range": "widest",
        "experience": "extensive",
        "risk_attitude": "seek",
        "income_stability": "stable",
        "emergency_fund": "over_6",
        "net_worth_share": "under_25",
        "near_term_withdrawals": "none",
    },
}


@dataclass(frozen=True)
class DemoSummary:
    assets: int
    bars: int
    news: int
    households: int
    accounts: int
    lots: int
    first_day: date
    last_day: date


def demo_is_loaded() -> bool:
    return Asset.objects.filter(is_demo=True).exists()


def demo_history_end(today: date) -> date:
    """The demo's history ends on the last trading day before ``today``; the ticker takes over."""
    return previous_trading_day(today)


def demo_load(
    *,
    seed: int,
    today: date,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Simulate the demo market and store it with the demo households and logins, all at once."""
    if not settings.DEMO_MODE:
        raise Conflict("the demo can only be loaded with DEMO_MODE on")
    if demo_is_loaded():
        raise Conflict("the demo is already loaded")
    say = progress or (lambda _message: None)
    say("Simulating six years of the demo market")
    history = simulate_history(seed=seed, end=demo_history_end(today))
    with transaction.atomic():
        say(f"Storing {len(history.assets)} instruments and {len(history.bars):,} daily bars")
        assets = _store_universe(history)
        _store_bars(history, assets)
        say(f"Storing {len(history.news):,} simulated headlines")
        stored_news = _store_news(history.news, ingested_at=now)
        say("Creating the demo households, accounts and lots")
        households, accounts, lots = _store_households(history, assets)
        ticker = MarketTicker.from_history(history)
        DemoMarketState.objects.create(seed=seed, state=ticker.state())
        account_valuations_record(on=history.end)
        _demo_policies()
    say("Building recommendations and the advisor's first proposals")
    from advisor.services.proposals import proposals_run
    from advisor.services.recommendations import recommendations_refresh

    recommendations_refresh(as_of=history.end)
    proposals_run(as_of=history.end, now=now)
    return DemoSummary(
        assets=len(assets),
        bars=len(history.bars),
        news=stored_news,
        households=households,
        accounts=accounts,
        lots=lots,
        first_day=history.start,
        last_day=history.end,
    )


def _store_universe(history: MarketHistory) -> dict[str, Asset]:
    rows = [
        Asset(
            symbol=a.symbol,
            name=a.name,
            security_type=a.security_type,
            asset_class=a.asset_class,
            sector=a.sector,
            esg_score=a.esg_score,
            exclusion_tags=list(a.exclusion_tags),
            identity_group=a.identity_group,
            replacement_group=a.replacement_group,
            fractionable=a.fractionable,
            is_demo=True,
        )
        for a in history.assets
    ]
    Asset.objects.bulk_create(rows)
    return {a.symbol: a for a in Asset.objects.filter(is_demo=True)}


def _store_bars(history: MarketHistory, assets: dict[str, Asset]) -> None:
    frame = history.bars
    rows = [
        PriceBar(
            asset_id=assets[symbol].pk,
            date=day,
            open=_px(o),
            high=_px(h),
            low=_px(lo),
            close=_px(c),
            volume=int(v),
            source=PriceBar.Source.DEMO,
        )
        for day, symbol, o, h, lo, c, v in zip(
            frame["date"],
            frame["symbol"],
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            frame["volume"],
            strict=True,
        )
    ]
    PriceBar.objects.bulk_create(rows, batch_size=5000)


def _px(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(PRICE_QUANT)


def _incoming(news: NewsEvent, *, ingested_at: datetime | None = None) -> IncomingNews:
    return IncomingNews(
        source=news.source,
        headline=news.headline,
        summary=news.summary,
        published_at=news.published_at,
        symbols=tuple(news.symbols),
        is_demo=True,
        ingested_at=ingested_at,
    )


def _store_news(news: tuple[NewsEvent, ...], *, ingested_at: datetime) -> int:
    """Historical headlines count as ingested when they were published (the past is complete)."""
    items = [_incoming(n, ingested_at=min(n.published_at, ingested_at)) for n in news]
    return len(news_items_ingest(items=items, ingested_at=ingested_at))


def _store_households(history: MarketHistory, assets: dict[str, Asset]) -> tuple[int, int, int]:
    advisor = user_create(
        username=DEMO_ADVISOR,
        password=DEMO_PASSWORD,
        role=Role.ADVISOR,
        first_name="Jordan",
        last_name="Blake",
        email="jordan.blake@example.com",
    )
    user_create(
        username=DEMO_ADMIN,
        password=DEMO_PASSWORD,
        role=Role.STAFF,
        first_name="Demo",
        last_name="Administrator",
        email="admin@example.com",
    )
    lots = demo_holdings(history)
    accounts_by_key: dict[str, Account] = {}
    n_accounts = 0
    for spec in DEMO_HOUSEHOLDS:
        short_rate, long_rate = _RATES[spec.filing_status]
        household = Household.objects.create(
            name=spec.name,
            filing_status=_FILING[spec.filing_status],
            short_term_rate=short_rate,
            long_term_rate=long_rate,
            is_demo=True,
        )
        for member in spec.members:
            user = user_create(
                username=member.username,
                password=DEMO_PASSWORD,
                role=Role.CLIENT,
                first_name=member.first_name,
                last_name=member.last_name,
                email=member.email,
            )
            client = client_create(
                household=household,
                first_name=member.first_name,
                last_name=member.last_name,
                email=member.email,
                user=user,
                advisor=advisor,
                annual_income=spec.annual_income if member.is_primary else None,
            )
            if member.is_primary:
                risk_profile_save(
                    client=client,
                    answers=_ANSWERS[spec.risk_tolerance],
                    horizon_years=spec.horizon_years,
                    goal_amount=Decimal("1500000")
                    if spec.horizon_years >= 15
                    else Decimal("600000"),
                    monthly_contribution=Decimal("1500"),
                )
                esg_preference_save(
                    client=client,
                    min_esg_score=spec.esg_floor or 0,
                    excluded_categories=spec.exclusions,
                )
        for account_spec in spec.accounts:
            account_type = _ACCOUNT_TYPES[account_spec.account_type]
            account = Account.objects.create(
                household=household,
                name=account_spec.name,
                account_type=account_type,
                lot_method=LotMethod.TAX_MIN
                if account_type == AccountType.TAXABLE
                else LotMethod.FIFO,
            )
            if account_spec.cash > 0:
                cash_deposit(account=account, amount=account_spec.cash, on=history.start)
            accounts_by_key[account_spec.key] = account
            n_accounts += 1
    for lot in lots:
        holding_transfer_in(
            account=accounts_by_key[lot.account],
            asset=assets[lot.symbol],
            quantity_=lot.quantity,
            cost_basis=lot.cost_basis,
            acquired_on=lot.acquired_on,
        )
    return len(DEMO_HOUSEHOLDS), n_accounts, len(lots)


def _demo_policies() -> None:
    """The simulated exchange quotes around the clock, so the demo trades outside US hours too."""
    from trading.services import risk_limit_current, risk_limit_update

    limit = risk_limit_current()
    risk_limit_update(
        limit_id=limit.pk,
        changes={"allow_outside_hours": True},
        actor_id=None,
        reason="demo: the simulated market trades around the clock",
    )


@dataclass(frozen=True)
class TickSummary:
    ticks: int
    news: int
    session: date


def demo_market_tick(*, now: datetime) -> TickSummary:
    """Advance the demo market to ``now``: update today's bars, store new headlines, tell pages."""
    with transaction.atomic():
        state = DemoMarketState.objects.select_for_update().first()
        if state is None:
            raise Conflict("the demo market is not loaded")
        ticker = MarketTicker.from_state(state.state, assets=DEMO_UNIVERSE)
        update = ticker.advance(now)
        assets = dict(Asset.objects.filter(is_demo=True).values_list("symbol", "pk"))
        latest: dict[tuple[str, date], Tick] = {}
        for tick in update.ticks:
            latest[(tick.symbol, tick.session_date)] = tick
        rows = [
            PriceBar(
                asset_id=assets[tick.symbol],
                date=tick.session_date,
                open=price(tick.open),
                high=price(max(tick.high, tick.open, tick.close)),
                low=price(min(tick.low, tick.open, tick.close)),
                close=price(tick.close),
                volume=int(tick.volume),
                source=PriceBar.Source.DEMO,
            )
            for tick in latest.values()
            if tick.symbol in assets
        ]
        PriceBar.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["asset", "date"],
            update_fields=["open", "high", "low", "close", "volume", "source"],
        )
        stored = news_items_ingest(items=[_incoming(n) for n in update.news], ingested_at=now)
        state.state = ticker.state()
        state.save(update_fields=["state", "updated_at"])
        if rows:
            groups = [
                household_group(pk)
                for pk in Household.objects.filter(is_demo=True).values_list("pk", flat=True)
            ]
            publish_on_commit(
                groups=groups,
                event="prices.updated",
                payload={
                    "session": ticker.session.isoformat(),
                    # what was stored, to the bar's six places, as a reload would read it
                    "prices": {
                        t.symbol: str(price(t.close)) for t in latest.values() if t.symbol in assets
                    },
                    "headlines": [n.headline for n in stored],
                },
            )
    return TickSummary(ticks=len(rows), news=len(stored), session=ticker.session)


def demo_catch_up_days(*, today: date) -> timedelta:
    """How far the stored demo market lags behind ``today`` (zero when current)."""
    last = (
        PriceBar.objects.filter(asset__is_demo=True)
        .order_by("-date")
        .values_list("date", flat=True)
        .first()
    )
    if last is None:
        return timedelta(0)
    return max(today - last, timedelta(0))
