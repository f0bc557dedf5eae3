"""Prepared reads return what the ORM returns, on PostgreSQL and on SQLite, and refuse what they
cannot bind safely."""

from tests.portfolios.sqlite_probe import run_on_sqlite

REFUSALS = {
    "computed": "ImproperlyConfigured",
    "unused": "ImproperlyConfigured",
    "transformed": "ImproperlyConfigured",
    "date_as_datetime": "ImproperlyConfigured",
    "decimal": "TypeError",
    "naive_datetime": "TypeError",
    "not_a_queryset": "ImproperlyConfigured",
    "prefetch": "ImproperlyConfigured",
}


def _check(results):
    cases = {k: v for k, v in results.items() if k not in ("reuse", "locks", "refusals")}
    assert len(cases) == 11
    for name, case in cases.items():
        assert case["prepared"] == case["orm"], name
        assert case["again"] == case["orm"], name
    assert cases["empty_list"]["orm"] == []
    assert cases["flat_unknown"]["orm"] == []
    assert cases["values_datetime_none"]["orm"] == []
    # the ORM's own rows: the cases compare something
    assert len(cases["values_list"]["orm"]) == 9
    assert len(cases["values_list_on"]["orm"]) == 6
    assert cases["duplicates_and_none"]["orm"][0][0] == "str:AAA"
    assert len(cases["duplicates_and_none"]["orm"]) == 6
    assert cases["flat"]["orm"][0].startswith("Decimal:20.25")
    assert [row["symbol"] for row in cases["values_datetime_descending"]["orm"]] == [
        "str:ZZZ",
        "str:BBB",
        "str:AAA",
    ]
    assert cases["values_datetime"]["orm"][0]["bar_count"] == "int:3"
    first = cases["instances"]["orm"][0]
    assert first["related"]["asset"]["fields"]["symbol"] == "str:ZZZ"
    assert "str:close" not in first["deferred"] and "str:volume" in first["deferred"]
    assert results["reuse"] == {
        "builder_calls_after_first": 0,
        "statements": 1,
        "rows": results["reuse"]["orm"],
        "orm": results["reuse"]["orm"],
    }
    locks = results["locks"]
    assert locks["inside"] == locks["inside_prepared"] == ["ZZZ", "AAA", "BBB"]
    assert locks["outside"] == locks["outside_prepared"]
    assert results["refusals"] == REFUSALS


def test_prepared_reads_on_postgresql(db):
    from tests.portfolios.prepared_cases import prepared_results

    _check(prepared_results())


def test_a_prepared_row_lock_needs_a_transaction_on_postgresql(transactional_db):
    from tests.portfolios.prepared_cases import book, locks

    outcomes = locks(book())
    assert outcomes["outside"] == outcomes["outside_prepared"] == "TransactionManagementError"
    assert outcomes["inside_prepared"] == ["ZZZ", "AAA", "BBB"]


def test_prepared_reads_on_sqlite():
    _check(
        run_on_sqlite("tests.portfolios.prepared_cases", "prepared_results", "prepared_results()")
    )
