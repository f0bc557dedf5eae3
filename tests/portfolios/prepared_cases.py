"""Prepared reads against the ORM on the same rows, shared by the PostgreSQL tests and the SQLite
probe (the backtests run on SQLite, the suite on PostgreSQL).

Not collected by pytest: the SQLite probe imports it in a child process with its own settings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, F
from django.db.transaction import TransactionManagementError

from portfolios.models import Asset, PriceBar
from portfolios.prepared import PreparedRead

DAYS = [dt.date(2024, 3, d) for d in (1, 4, 5)]


def book():
    """Three assets with bars on three days; the assets' ids in creation order."""
    ids = []
    for n, symbol in enumerate(["ZZZ", "AAA", "BBB"]):
        asset = Asset.objects.create(symbol=symbol, name=f"{symbol} Fund", asset_class="us_equity")
        ids.append(asset.pk)
        for k, day in enumerate(DAYS):
            price = Decimal("10.125") * (n + 1) + k
            PriceBar.objects.create(
                asset=asset, date=day, open=price, high=price, low=price, close=price, volume=k
            )
    return ids


def _bars(ids, on):
    bars = PriceBar.objects.filter(asset_id__in=ids).order_by("asset__symbol", "date")
    if on is not None:
        bars = bars.filter(date__lte=on)
    return bars.values_list("asset__symbol", "date", "close")


def _closes(symbol):
    return (
        PriceBar.objects.filter(asset__symbol=symbol)
        .order_by("date")
        .values_list("close", flat=True)
    )


def _counts(since, descending):
    rows = (
        Asset.objects.filter(created_at__gte=since)
        .annotate(bar_count=Count("bars"), label=F("symbol"))
        .values("symbol", "bar_count", "label")
    )
    return rows.order_by("-symbol" if descending else "symbol")


def _rows(ids):
    return (
        PriceBar.objects.select_related("asset")
        .annotate(symbol=F("asset__symbol"))
        .only("date", "close", "asset__symbol", "asset__name")
        .filter(asset_id__in=ids, volume__gte=1)
        .order_by("pk")
    )


def _locked(ids):
    return Asset.objects.select_for_update().filter(pk__in=ids).order_by("pk")


def _outcome(read):
    try:
        return [asset.symbol for asset in read()]
    except TransactionManagementError:
        return "TransactionManagementError"


def locks(ids):
    """A row-locking read outside and inside a transaction, by the ORM and prepared."""
    locked = PreparedRead(_locked)
    outcomes = {
        "outside": _outcome(lambda: list(_locked(ids))),
        "outside_prepared": _outcome(lambda: locked(ids)),
    }
    with transaction.atomic():
        outcomes["inside"] = _outcome(lambda: list(_locked(ids)))
        outcomes["inside_prepared"] = _outcome(lambda: locked(ids))
    return outcomes


def _text(value):
    if isinstance(value, Asset | PriceBar):
        fields = {
            k: v for k, v in value.__dict__.items() if not k.startswith("_") and k != "updated_at"
        }
        related = dict(value._state.fields_cache)
        return _text(
            {"fields": fields, "related": related, "deferred": value.get_deferred_fields()}
        )
    if isinstance(value, dict):
        return {str(k): _text(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple | set):
        items = [_text(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set) else items
    return f"{type(value).__name__}:{value}"


def _refusal(build, *args):
    try:
        PreparedRead(build)(*args)
    except Exception as exc:
        return type(exc).__name__
    return "accepted"


def prepared_results():
    """Each case's rows from the ORM and from the prepared read, and the refusals."""
    ids = book()
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    bars, closes, counts, rows = (PreparedRead(b) for b in (_bars, _closes, _counts, _rows))
    cases = {
        "values_list": (bars, (ids, None)),
        "values_list_on": (bars, (ids, DAYS[1])),
        "values_list_some": (bars, ([ids[2], ids[0]], DAYS[2])),
        "duplicates_and_none": (bars, ([ids[1], None, ids[1], ids[0]], None)),
        "empty_list": (bars, ([], DAYS[0])),
        "flat": (closes, ("AAA",)),
        "flat_unknown": (closes, ("NOPE",)),
        "values_datetime": (counts, (since, False)),
        "values_datetime_descending": (counts, (since, True)),
        "values_datetime_none": (counts, (later, False)),
        "instances": (rows, (ids,)),
    }
    results = {}
    for name, (read, args) in cases.items():
        orm = list(read._build(*args))
        first = read(*args)
        again = read(*args)
        results[name] = {"orm": _text(orm), "prepared": _text(first), "again": _text(again)}
    # streamed in chunks smaller than the result: the same rows
    results["iterate"] = {
        "orm": _text(list(_bars(ids, None))),
        "prepared": _text(list(bars.iterate(ids, None, chunk_size=2))),
        "empty": _text(list(bars.iterate([], None, chunk_size=2))),
    }
    # a prepared call reuses its plan: one statement, no builder call
    calls = []

    def counted(symbol):
        calls.append(symbol)
        return _closes(symbol)

    read = PreparedRead(counted)
    read("AAA")
    before = len(calls)
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        repeat = read("BBB")
    results["reuse"] = {
        "builder_calls_after_first": len(calls) - before,
        "statements": len(statements),
        "rows": _text(repeat),
        "orm": _text(list(_closes("BBB"))),
    }
    results["locks"] = locks(ids)
    results["refusals"] = {
        "computed": _refusal(
            lambda day: PriceBar.objects.filter(date__gt=day - dt.timedelta(days=1)).values_list(
                "close"
            ),
            DAYS[1],
        ),
        "unused": _refusal(lambda symbol: Asset.objects.values_list("pk"), "AAA"),
        "transformed": _refusal(
            lambda symbol: Asset.objects.filter(symbol__icontains=symbol).values_list("pk"), "A"
        ),
        "date_as_datetime": _refusal(
            lambda day: PriceBar.objects.filter(date=day).values_list("pk"), since
        ),
        "decimal": _refusal(
            lambda price: PriceBar.objects.filter(close=price).values_list("pk"), Decimal("1")
        ),
        "naive_datetime": _refusal(
            lambda moment: Asset.objects.filter(created_at__gte=moment).values_list("pk"),
            dt.datetime(2024, 1, 1),  # noqa: DTZ001 - naive on purpose: refused
        ),
        "not_a_queryset": _refusal(lambda pk: [pk], 1),
        "prefetch": _refusal(
            lambda pk: Asset.objects.filter(pk=pk).prefetch_related("bars"), ids[0]
        ),
    }
    return results


def _statements(action):
    """What ``action`` returned, and the SQL statements it ran."""
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        value = action()
    return value, statements


def _stored(model, pk):
    row = model.objects.filter(pk=pk).values().get()
    return {k: _text(v) for k, v in row.items() if k not in ("id", "updated_at", "created_at")}


def saves_results():
    """Saves of models with prepared saves (inserts, updates, the ORM's fallbacks), each next to
    what a plain queryset reads back; and ``insert_rows``."""
    from portfolios.models import AuditEvent
    from portfolios.prepared import insert_rows
    from trading.models import BrokerSyncState

    results = {}
    moment = dt.datetime(2024, 3, 4, 15, 30, tzinfo=dt.UTC)
    # create: one INSERT, the key read back, auto_now set
    state, sql = _statements(lambda: BrokerSyncState.objects.create(broker="alpaca"))
    results["create"] = {
        "statements": len(sql),
        "key_matches": BrokerSyncState.objects.filter(pk=state.pk).count() == 1,
        "updated_at_set": state.updated_at is not None,
        "adding": state._state.adding,
    }
    stamp = state.updated_at
    state.last_fill_at = moment
    _, sql = _statements(lambda: state.save(update_fields=["last_fill_at", "updated_at"]))
    results["update_fields"] = {
        "statements": len(sql),
        "stored": _stored(BrokerSyncState, state.pk),
        "updated_at_moved": state.updated_at > stamp
        and BrokerSyncState.objects.get(pk=state.pk).updated_at == state.updated_at,
    }
    # a whole save of a saved row: an UPDATE of every field
    state.broker = "simulated"
    _, sql = _statements(state.save)
    results["full_save"] = {"statements": len(sql), "stored": _stored(BrokerSyncState, state.pk)}
    # an expression goes to the ORM, which evaluates it in the database
    state.last_fill_at = F("updated_at")
    state.save(update_fields=["last_fill_at"])
    state.refresh_from_db()
    results["expression"] = state.last_fill_at == state.updated_at
    # a row that is gone: save(update_fields) raises; a whole save inserts it again
    gone = BrokerSyncState.objects.create(broker="gone")
    BrokerSyncState.objects.filter(pk=gone.pk).delete()
    try:
        with transaction.atomic():  # (the error spoils the transaction, as the ORM's does)
            gone.save(update_fields=["last_fill_at"])
        results["gone"] = "saved"
    except Exception as exc:
        results["gone"] = f"{type(exc).__name__}: {exc}"
    gone.save()
    results["gone_saved_again"] = BrokerSyncState.objects.filter(pk=gone.pk).count()
    # an explicit key: the ORM's path (update, then insert)
    explicit = BrokerSyncState(pk=gone.pk + 100, broker="explicit")
    explicit.save()
    results["explicit_key"] = _stored(BrokerSyncState, gone.pk + 100)
    # a JSON field and a nullable foreign key, created with prepared saves and by the ORM
    data = {"weights": {"AAA": "0.25"}, "n": 3}
    prepared = AuditEvent.objects.create(
        action="test.prepared", object_type="X", object_id="1", data=data
    )
    plain = AuditEvent.objects.bulk_create(
        [AuditEvent(action="test.prepared", object_type="X", object_id="1", data=data)]
    )[0]
    results["json"] = {
        "prepared": _stored(AuditEvent, prepared.pk),
        "orm": _stored(AuditEvent, plain.pk),
    }
    # insert_rows: keys read back, or one executemany without them
    rows = [AuditEvent(action="test.rows", object_type="X", object_id=str(n)) for n in range(3)]
    insert_rows(rows)
    results["insert_rows_keys"] = [AuditEvent.objects.get(pk=row.pk).object_id for row in rows]
    bulk = [AuditEvent(action="test.bulk", object_type="X", object_id=str(n)) for n in range(4)]
    _, sql = _statements(lambda: insert_rows(bulk, return_keys=False))
    results["insert_rows_bulk"] = {
        "statements": len(sql),
        "keys": [row.pk for row in bulk],
        "stored": sorted(
            AuditEvent.objects.filter(action="test.bulk").values_list("object_id", flat=True)
        ),
        "created_at_set": all(row.created_at is not None for row in bulk),
    }
    from django.db import connections

    from portfolios.prepared import _WRITES

    results["planned"] = sorted(
        {key[0] for key in _WRITES.get(connections["default"], {}) if len(key) > 1}
    )
    results["insert_rows_refusals"] = {
        "mixed": _raises(lambda: insert_rows([AuditEvent(action="a"), explicit])),
        "saved": _raises(lambda: insert_rows([prepared])),
    }
    return results


def _raises(action):
    try:
        action()
    except Exception as exc:
        return type(exc).__name__
    return "accepted"
