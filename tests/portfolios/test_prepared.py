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
    cases = {k: v for k, v in results.items() if k not in ("reuse", "locks", "refusals", "iterate")}
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
    streamed = results["iterate"]
    assert len(streamed["orm"]) == 9 and streamed["prepared"] == streamed["orm"]
    assert streamed["empty"] == []
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


def test_a_remembered_conversion_gives_what_the_converter_gives():
    import decimal
    import math

    from portfolios import prepared

    calls = []

    def to_decimal(value):
        calls.append(value)
        return None if value is None else decimal.Context(prec=15).create_decimal_from_float(value)

    convert = prepared._remembering(to_decimal)
    assert convert(20.25) == convert(20.25) == decimal.Decimal("20.25")
    assert calls == [20.25]  # the second came from memory
    # 0.0 and -0.0 are equal keys but different decimals: never remembered
    assert str(convert(0.0)) == "0" and str(convert(-0.0)) == "-0"
    # NaN never equals itself: converted each time, not stored
    assert convert(math.nan).is_nan() and convert(math.nan).is_nan()
    assert convert(None) is None
    calls.clear()
    for n in range(prepared.MAX_MEMO + 5):
        convert(n + 0.5)
    assert len(calls) == prepared.MAX_MEMO + 5
    convert(prepared.MAX_MEMO + 4.5)
    assert len(calls) == prepared.MAX_MEMO + 5  # remembered after the memory started again


def _check_saves(results):
    assert results["create"] == {
        "statements": 1,
        "key_matches": True,
        "updated_at_set": True,
        "adding": False,
    }
    assert results["update_fields"]["statements"] == 1
    assert results["update_fields"]["updated_at_moved"] is True
    assert results["update_fields"]["stored"]["last_fill_at"].startswith(
        "datetime:2024-03-04 15:30"
    )
    assert results["full_save"]["statements"] == 1
    assert results["full_save"]["stored"]["broker"] == "str:simulated"
    assert results["expression"] is True
    assert results["gone"] == "DatabaseError: Save with update_fields did not affect any rows."
    assert results["gone_saved_again"] == 1
    assert results["explicit_key"]["broker"] == "str:explicit"
    assert results["json"]["prepared"] == results["json"]["orm"]
    assert results["json"]["prepared"]["data"] == {
        "n": "int:3",
        "weights": {"AAA": "str:0.25"},
    }
    assert results["insert_rows_keys"] == ["0", "1", "2"]
    assert results["insert_rows_bulk"] == {
        "statements": 1,
        "keys": [None, None, None, None],
        "stored": ["0", "1", "2", "3"],
        "created_at_set": True,
    }
    # the saves above ran the prepared statements (not the ORM's own)
    assert results["planned"] == ["insert", "save-insert", "save-update"]
    assert results["insert_rows_refusals"] == {"mixed": "TypeError", "saved": "ValueError"}


def test_prepared_saves_on_postgresql(db):
    from tests.portfolios.prepared_cases import saves_results

    _check_saves(saves_results())


def test_prepared_saves_on_sqlite():
    _check_saves(
        run_on_sqlite("tests.portfolios.prepared_cases", "saves_results", "saves_results()")
    )
