from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portfolios.models import Asset, PriceBar
from tests.factories import AssetFactory

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_prices", *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_imports_the_shared_stock_prices_with_blanks_as_missing(shared_data):
    out, _ = run(str(shared_data / "prices" / "stock_prices.csv"), "--create-missing")
    assert "Imported" in out and "20 symbols" in out
    assert Asset.objects.count() == 20
    assert Asset.objects.get(symbol="AAPL").esg_score is None  # unrated until staff classify it
    fb = PriceBar.objects.filter(asset__symbol="FB")
    # FB listed in 2012: no bars (not zero-priced bars) before that
    assert fb.order_by("date").first().date.year == 2012
    assert not PriceBar.objects.filter(close__lte=0).exists()
    aapl_first = PriceBar.objects.filter(asset__symbol="AAPL").order_by("date").first()
    assert str(aapl_first.close) == "0.117203"


def test_unknown_symbols_are_refused_without_create_missing(tmp_path):
    AssetFactory(symbol="AAA")
    path = tmp_path / "p.csv"
    path.write_text("date,AAA,ZZZ\n2024-01-02,1,2\n")
    with pytest.raises(CommandError, match="unknown symbol\\(s\\): ZZZ"):
        run(str(path))
    assert not PriceBar.objects.exists()


def test_one_bad_row_writes_nothing_and_every_bad_row_is_listed(tmp_path):
    AssetFactory(symbol="AAA")
    path = tmp_path / "p.csv"
    path.write_text(
        "date,symbol,open,high,low,close,volume\n"
        "2024-01-02,AAA,10,11,9,10.5,100\n"
        "2024-01-03,AAA,10,11,9,oops,100\n"
        "2024-01-04,AAA,10,11,9,10.5,-5\n"
    )
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="2 bad row"):
        call_command("import_prices", str(path), "--no-progress", stdout=out, stderr=err)
    assert f"{path}:3: close 'oops' is not a number" in err.getvalue()
    assert f"{path}:4: volume must be a non-negative whole number, got -5" in err.getvalue()
    assert not PriceBar.objects.exists()


def test_reimport_replaces_bars(tmp_path):
    AssetFactory(symbol="AAA")
    path = tmp_path / "p.csv"
    path.write_text("date,AAA\n2024-01-02,10\n")
    run(str(path))
    path.write_text("date,AAA\n2024-01-02,11\n")
    run(str(path))
    assert [str(b.close) for b in PriceBar.objects.all()] == ["11.000000"]


def test_missing_file():
    with pytest.raises(CommandError, match="no such file"):
        run("/nonexistent/prices.csv")
