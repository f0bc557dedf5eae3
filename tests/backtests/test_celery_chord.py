"""A study's replays as a Celery chord in a real ``celery worker``: each replay is a task (in a
database of its own), the chord's callback gathers them into the run's figures."""

import time
import uuid
from datetime import date

import pytest

from backtests.core.config import STRATEGIES
from backtests.market import MarketSource
from backtests.models import BacktestRun, ResultStatus, RunStatus
from backtests.services import backtest_run_create
from tests.celery_workers import running_celery_worker, worker_log_tail
from tests.conftest import SHARED_DATA
from worker.tasks import backtest_start

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.slow,
    pytest.mark.xdist_group("celery"),
]


@pytest.fixture
def backtest_worker(redis_url):
    queue = f"test-backtests-{uuid.uuid4().hex[:8]}"
    with running_celery_worker(queue=queue, redis_url=redis_url, name="backtests") as process:
        yield queue, process


def test_the_chord_gathers_each_replay(backtest_worker):
    queue, process = backtest_worker
    run = backtest_run_create(
        name="Chord",
        strategies=[STRATEGIES["equal_weight"], STRATEGIES["sixty_forty"]],
        source=MarketSource(kind="file", path=str(SHARED_DATA / "prices" / "stock_prices.csv")),
        start=date(2010, 1, 4),
        end=date(2010, 3, 31),
    )
    backtest_start.apply_async(args=[run.pk, queue], queue=queue)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        run.refresh_from_db()
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            break
        time.sleep(0.5)
    if run.status != RunStatus.DONE:
        pytest.fail(
            f"the study did not finish ({run.status}: {run.error}); "
            f"worker:\n{worker_log_tail(process)}"
        )
    results = {r.key: r for r in run.results.all()}
    assert {k: r.status for k, r in results.items()} == {
        "equal_weight": ResultStatus.DONE,
        "sixty_forty": ResultStatus.DONE,
    }
    table = {row["strategy"]: row for row in run.summary["table"]}
    assert set(table) == {"equal_weight", "sixty_forty"}
    for key, result in results.items():
        assert table[key]["cagr"] == result.metrics["cagr"]
        assert table[key]["volatility"] == result.metrics["volatility"]
        assert (
            result.series["days"][0] == "2010-01-04" and result.series["days"][-1] == "2010-03-31"
        )
    # 40% in the synthetic cash asset: clearly calmer than all in stocks.
    assert table["sixty_forty"]["volatility"] < 0.75 * table["equal_weight"]["volatility"]
    assert "CASHX" in results["sixty_forty"].details["targets"][0]["weights"]
    assert BacktestRun.objects.get(pk=run.pk).finished_at is not None
