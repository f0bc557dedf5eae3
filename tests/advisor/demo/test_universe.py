from __future__ import annotations

import dataclasses
from collections import Counter
from decimal import Decimal

import pytest

from advisor.demo.market import MarketHistory
from advisor.demo.universe import (
    ACCOUNT_TYPES,
    ASSET_CLASSES,
    DEMO_CLIENT_USERNAME,
    DEMO_HOUSEHOLDS,
    DEMO_UNIVERSE,
    EXCLUSION_TAGS,
    DemoAsset,
    assets_by_symbol,
    demo_holdings,
    replacement_candidates,
    validate_universe,
)
from portfolios.core.errors import InvalidInput

BY_SYMBOL = assets_by_symbol(DEMO_UNIVERSE)


def test_about_forty_assets_covering_every_asset_class():
    assert 38 <= len(DEMO_UNIVERSE) <= 48
    classes = Counter(asset.asset_class for asset in DEMO_UNIVERSE)
    assert set(classes) == set(ASSET_CLASSES)
    assert sum(asset.is_stock for asset in DEMO_UNIVERSE) == 15


def test_symbols_and_names_are_obviously_demo():
    for asset in DEMO_UNIVERSE:
        assert asset.symbol.isalpha()
        assert asset.symbol.isupper()
        assert 2 <= len(asset.symbol) <= 5
        assert asset.name.endswith("(demo)")
        assert "(demo)" not in asset.short_name


def test_every_asset_but_cash_has_a_replacement_that_is_not_identical():
    validate_universe(DEMO_UNIVERSE)
    for asset in DEMO_UNIVERSE:
        partners = replacement_candidates(asset)
        if asset.asset_class == "cash":
            continue
        assert partners, asset.symbol
        assert all(p.identity_key != asset.identity_key for p in partners)
        assert all(p.symbol != asset.symbol for p in partners)


def test_substantially_identical_pair_and_total_market_alternative():
    groups: dict[str, list[DemoAsset]] = {}
    for asset in DEMO_UNIVERSE:
        if asset.identity_group:
            groups.setdefault(asset.identity_group, []).append(asset)
    pairs = [members for members in groups.values() if len(members) >= 2]
    assert pairs, "two funds tracking the same index"
    first, second = pairs[0][:2]
    assert first.replacement_group == second.replacement_group
    assert second not in replacement_candidates(first)
    alternatives = replacement_candidates(first)
    assert any(alt.identity_group and alt.asset_class == "us_equity" for alt in alternatives)


def test_realistic_volatilities():
    for asset in DEMO_UNIVERSE:
        vol = asset.annual_vol
        if asset.asset_class == "cash":
            assert 0.003 <= vol <= 0.007
        elif asset.asset_class in ("bond", "tips"):
            assert 0.01 <= vol <= 0.14, asset.symbol
        elif asset.is_stock:
            assert 0.18 <= vol <= 0.45, asset.symbol
        elif asset.asset_class == "em_equity":
            assert 0.2 <= vol <= 0.25
        elif asset.asset_class in ("us_equity", "intl_equity"):
            assert 0.13 <= vol <= 0.21, asset.symbol
    aggregate = [a for a in DEMO_UNIVERSE if a.sector == "aggregate"]
    assert all(0.03 <= a.annual_vol <= 0.07 for a in aggregate)


def test_esg_scores_and_exclusion_tags():
    scores = [asset.esg_score for asset in DEMO_UNIVERSE]
    assert min(scores) <= 15
    assert max(scores) >= 90
    tags = {tag for asset in DEMO_UNIVERSE for tag in asset.exclusion_tags}
    assert {"tobacco", "weapons", "fossil_fuels", "gambling"} <= tags
    assert tags <= set(EXCLUSION_TAGS)
    screened = [a for a in DEMO_UNIVERSE if a.replacement_group == "us_esg"]
    assert len(screened) >= 2
    assert all(a.esg_score >= 80 for a in screened)
    energy = [a for a in DEMO_UNIVERSE if a.sector == "energy"]
    assert energy
    assert all("fossil_fuels" in a.exclusion_tags and a.esg_score < 30 for a in energy)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"symbol": "spy"}, "uppercase"),
        ({"symbol": "TOOLONG"}, "uppercase"),
        ({"name": "Real Fund"}, "demo"),
        ({"asset_class": "crypto"}, "asset class"),
        ({"esg_score": 101}, "ESG"),
        ({"exclusion_tags": ("pets",)}, "exclusion"),
        ({"annual_vol": 0.05}, "below what its factor loadings explain"),
        ({"base_price": 0.5}, "base price"),
    ],
)
def test_bad_assets_are_refused(change, message):
    with pytest.raises(InvalidInput, match=message):
        dataclasses.replace(BY_SYMBOL["ZLCA"], **change)


def test_duplicate_symbols_are_refused():
    with pytest.raises(InvalidInput, match="twice"):
        assets_by_symbol((*DEMO_UNIVERSE, DEMO_UNIVERSE[0]))


def test_households():
    assert [h.name for h in DEMO_HOUSEHOLDS] == [
        "Rivera household",
        "Chen household",
        "Okafor household",
    ]
    rivera, chen, okafor = DEMO_HOUSEHOLDS
    assert rivera.primary.username == DEMO_CLIENT_USERNAME
    assert rivera.esg_floor == 60
    assert set(rivera.exclusions) == {"tobacco", "weapons"}
    assert {a.account_type for a in rivera.accounts} == set(ACCOUNT_TYPES)
    assert chen.filing_status == "single"
    assert chen.risk_tolerance == "conservative"
    assert okafor.exclusions == ("fossil_fuels",)
    assert okafor.risk_tolerance == "aggressive"
    usernames = [m.username for h in DEMO_HOUSEHOLDS for m in h.members]
    assert len(usernames) == len(set(usernames))
    for household in DEMO_HOUSEHOLDS:
        assert sum(m.is_primary for m in household.members) == 1
        for account in household.accounts:
            assert all(lot.symbol in BY_SYMBOL for lot in account.lots)


def test_demo_holdings_cost_is_the_simulated_close(history: MarketHistory):
    lots = demo_holdings(history)
    assert len(lots) == sum(len(a.lots) for h in DEMO_HOUSEHOLDS for a in h.accounts)
    closes = history.closes()
    for lot in lots:
        assert history.start <= lot.acquired_on < history.end
        assert lot.cost_per_share == Decimal(str(closes.loc[lot.acquired_on, lot.symbol]))
        assert lot.quantity > 0
        if not BY_SYMBOL[lot.symbol].fractionable:
            assert lot.quantity == lot.quantity.to_integral_value()
        assert lot.cost_basis == (lot.quantity * lot.cost_per_share).quantize(Decimal("0.01"))


def test_demo_holdings_has_losses_and_gains_at_the_end(history: MarketHistory):
    lots = demo_holdings(history)
    last = history.closes().iloc[-1]
    losers = [lot for lot in lots if lot.cost_per_share > Decimal(str(last[lot.symbol]))]
    winners = [lot for lot in lots if lot.cost_per_share < Decimal(str(last[lot.symbol]))]
    assert len(losers) >= 6
    assert len(winners) >= 10
    assert {lot.household for lot in losers} == {h.key for h in DEMO_HOUSEHOLDS}
    # Harvestable losses sit in taxable accounts, and none was bought in the last 30 days
    assert any(lot.account.endswith("taxable") for lot in losers)
    recent = set(history.days[-31:])
    assert not any(lot.acquired_on in recent for lot in losers)


def test_demo_holdings_is_deterministic(history: MarketHistory):
    assert demo_holdings(history) == demo_holdings(history)


def test_demo_holdings_refuses_unknown_symbols(history: MarketHistory):
    household = DEMO_HOUSEHOLDS[1]
    account = dataclasses.replace(
        household.accounts[0],
        lots=(dataclasses.replace(household.accounts[0].lots[0], symbol="NOPE"),),
    )
    broken = dataclasses.replace(household, accounts=(account,))
    with pytest.raises(InvalidInput, match="NOPE"):
        demo_holdings(history, (broken,))
