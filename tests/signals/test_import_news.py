"""``import_news``: every row validated with its line number, nothing written if any is bad,
content already stored skipped."""

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command

from portfolios.core.errors import InvalidInput
from signals.ingest.files import news_file_format, parse_news_file
from signals.models import NewsItem
from signals.services import news_file_import
from tests.factories import AssetFactory

NOW = dt.datetime(2024, 3, 4, 21, 0, tzinfo=dt.UTC)

GOOD_CSV = """headline,published_at,symbols,summary,url,source
Exxon lifts output target,2024-03-01T14:00:00Z,XOM,Production to rise,https://example.com/1,
Chevron and Exxon fall,2024-03-01T15:30:00-05:00,"CVX, xom",,,Energy Wire
"""


def test_a_good_csv_parses_every_row():
    parsed = parse_news_file(
        GOOD_CSV.splitlines(keepends=True), format="csv", default_source="file.csv", now=NOW
    )
    assert parsed.ok and parsed.rows == 2
    first, second = parsed.items
    assert first.source == "file.csv" and first.symbols == ("XOM",)
    assert first.summary == "Production to rise" and first.url == "https://example.com/1"
    assert second.source == "Energy Wire" and second.symbols == ("CVX", "XOM")
    assert second.published_at == dt.datetime(2024, 3, 1, 20, 30, tzinfo=dt.UTC)


def test_every_bad_row_is_listed_with_its_line():
    text = (
        "headline,published_at,symbols\n"
        "Fine,2024-03-01T14:00:00Z,XOM\n"
        ",2024-03-01T14:00:00Z,XOM\n"
        "No zone,2024-03-01 14:00,XOM\n"
        "Later,2024-03-05T14:00:00Z,XOM\n"
        "Bad ticker,2024-03-01T14:00:00Z,X$M\n"
        "No symbols,2024-03-01T14:00:00Z,\n"
        "Short row,2024-03-01T14:00:00Z\n"
        "Not a date,yesterday,XOM\n"
    )
    parsed = parse_news_file(text.splitlines(), format="csv", default_source="s", now=NOW)
    errors = {e.line: e.message for e in parsed.errors}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert errors[3] == "headline is missing"
    assert "no timezone" in errors[4]
    assert "in the future" in errors[5]
    assert "not a valid ticker" in errors[6]
    assert "symbols is empty" in errors[7]
    assert "expected 3 columns, got 2" in errors[8]
    assert "not an ISO 8601 time" in errors[9]
    assert len(parsed.items) == 1


def test_jsonl_rows_accept_lists_of_symbols_and_name_bad_lines():
    lines = [
        json.dumps(
            {"headline": "Exxon up", "published_at": "2024-03-01T14:00:00Z", "symbols": ["XOM"]}
        ),
        "",
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"headline": "No date", "symbols": "XOM"}),
        json.dumps(
            {
                "headline": "Odd url",
                "published_at": "2024-03-01T14:00:00Z",
                "symbols": "XOM",
                "url": "ftp://x",
            }
        ),
        "[" * 100_000 + "]" * 100_000,
    ]
    parsed = parse_news_file(lines, format="jsonl", default_source="s", now=NOW)
    assert [i.headline for i in parsed.items] == ["Exxon up"]
    messages = {e.line: e.message for e in parsed.errors}
    assert sorted(messages) == [3, 4, 5, 6, 7]
    assert "not valid JSON" in messages[3] and "JSON object" in messages[4]
    assert "published_at is missing" in messages[5] and "http(s)" in messages[6]
    assert messages[7] == "not valid JSON (nested too deeply)"


def test_a_file_without_the_required_columns_is_refused():
    with pytest.raises(InvalidInput, match="lacks the column"):
        parse_news_file(
            ["headline,symbols\n", "x,XOM\n"], format="csv", default_source="s", now=NOW
        )
    with pytest.raises(InvalidInput, match="no rows"):
        parse_news_file(
            ["headline,published_at,symbols\n"], format="csv", default_source="s", now=NOW
        )


def test_the_format_comes_from_the_name_or_the_content():
    assert news_file_format("news.jsonl", "headline") == "jsonl"
    assert news_file_format("news.csv", "{") == "csv"
    assert news_file_format("news.txt", '{"headline": 1}') == "jsonl"
    assert news_file_format("news", "headline,published_at") == "csv"


@pytest.mark.django_db
def test_the_service_refuses_a_file_with_errors():
    parsed = parse_news_file(
        ["headline,published_at,symbols\n", "ok,2024-03-01T14:00:00Z,XOM\n", ",x,XOM\n"],
        format="csv",
        default_source="s",
        now=NOW,
    )
    with pytest.raises(InvalidInput, match="1 bad row"):
        news_file_import(parsed=parsed, ingested_at=NOW)
    assert not NewsItem.objects.exists()


@pytest.mark.django_db
def test_the_command_imports_links_and_deduplicates(tmp_path, capsys):
    xom = AssetFactory(symbol="XOM")
    path = tmp_path / "energy.csv"
    path.write_text(GOOD_CSV)
    call_command("import_news", str(path), "--source", "Import Desk")
    out = capsys.readouterr().out
    assert "Imported 2 headline(s)" in out and "CVX" in out  # CVX is not in the universe
    items = {n.headline: n for n in NewsItem.objects.all()}
    assert set(items) == {"Exxon lifts output target", "Chevron and Exxon fall"}
    assert items["Exxon lifts output target"].source == "Import Desk"
    assert items["Chevron and Exxon fall"].source == "Energy Wire"
    assert list(items["Chevron and Exxon fall"].assets.all()) == [xom]
    assert items["Chevron and Exxon fall"].symbols == ["CVX", "XOM"]
    ingested = items["Exxon lifts output target"].ingested_at
    assert ingested > items["Exxon lifts output target"].published_at

    again = tmp_path / "again.jsonl"
    again.write_text(
        json.dumps(
            {
                "headline": "Exxon lifts output target",
                "published_at": "2024-03-01T14:00:00Z",
                "symbols": "XOM",
                "summary": "Production to rise",
            }
        )
        + "\n"
        + json.dumps(
            {"headline": "A new story", "published_at": "2024-03-02T14:00:00Z", "symbols": "XOM"}
        )
        + "\n"
    )
    call_command("import_news", str(again))
    assert "Imported 1 headline(s)" in capsys.readouterr().out
    assert NewsItem.objects.count() == 3
    assert NewsItem.objects.get(headline="A new story").source == "again.jsonl"


@pytest.mark.django_db
def test_the_command_writes_nothing_when_a_row_is_bad(tmp_path, capsys):
    AssetFactory(symbol="XOM")
    path = tmp_path / "bad.csv"
    path.write_text(GOOD_CSV + "Missing date,,XOM,,,\n")
    with pytest.raises(CommandError, match="1 bad row"):
        call_command("import_news", str(path))
    assert f"{path}:4: published_at is missing" in capsys.readouterr().err
    assert not NewsItem.objects.exists()
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_news", str(tmp_path / "absent.csv"))
