"""Runtime modes are chosen by the environment alone; production refuses an unsafe start."""

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'mode': s.RUNTIME_MODE, 'engine': s.DATABASES['default']['ENGINE'], "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, "
    "'broker': s.BROKER, 'demo': s.DEMO_MODE, 'debug': s.DEBUG}))"
)
CLEARED = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_SECRET_KEY",
    "DJANGO_HTTPS",
    "DJANGO_STATIC_MANIFEST",
    "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
    "DEMO_MODE",
    "CELERY_TASK_ALWAYS_EAGER",
    "BROKER",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
)


def run(env_overrides, *args, code=PROBE):
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "advisor.settings"
    command = [sys.executable, *args] if args else [sys.executable, "-c", code]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_embedded_mode_needs_nothing(tmp_path):
    import json

    result = run({"SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe == {
        "mode": "embedded",
        "engine": "django.db.backends.sqlite3",
        "layer": "channels.layers.InMemoryChannelLayer",
        "eager": True,
        "broker": "simulated",
        "demo": True,
        "debug": True,
    }


def test_production_mode_uses_postgres_and_redis():
    import json

    result = run(
        {
            "DATABASE_URL": "postgres://u@db:5432/x",
            "REDIS_URL": "redis://r:6379/0",
            "DJANGO_SECRET_KEY": "k" * 60,
        }
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["mode"] == "production"
    assert probe["engine"] == "django.db.backends.postgresql"
    assert probe["layer"] == "advisor.channel_layers.PlatformChannelLayer"
    assert probe["eager"] is False and probe["demo"] is False and probe["debug"] is False


def test_production_refuses_to_start_without_a_secret_key():
    result = run({"DATABASE_URL": "postgres://u@db:5432/x", "REDIS_URL": "redis://r:6379/0"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_check_deploy_is_clean_under_production_settings():
    result = run(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/robo_advisor",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "DJANGO_SECRET_KEY": "x8#kP2!vQz9@Lm4$Tn7^Rb1&Wc6*Yd3(Fg5)Hj0_Kl2+Zx9=Vb8-Nm7",
            "DJANGO_ALLOWED_HOSTS": "advice.example.com",
        },
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_unknown_broker_is_refused():
    result = run({"BROKER": "carrier-pigeon"})
    assert result.returncode != 0 and "BROKER must be" in result.stderr
