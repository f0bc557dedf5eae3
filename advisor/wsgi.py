"""WSGI entry point: gunicorn serves the HTTP pages and the REST API through it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")

application = get_wsgi_application()
