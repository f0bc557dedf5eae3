import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_checks_database_and_redis(client, redis_url):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


def test_healthz_reports_a_dead_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False


def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


def test_metrics_are_for_the_scrapers_networks_and_staff(client, settings):
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", **outside).status_code == 404
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="10.0.0.2", **outside).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", **outside).status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed
    client.force_login(UserFactory(is_staff=True, role="staff"))
    assert client.get("/metrics").status_code == 200
