"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets pass origin validation (``ALLOWED_HOSTS``) and session authentication before any
consumer sees them.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "advisor.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from advisor.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)

# Everything imported so far lives as long as the process: move it out of the collector's reach,
# so that a full collection (triggered by the allocations of an event's fan-out to many sockets)
# scans only what the sockets themselves hold. A full collection of the whole Django process
# stalled an event by about 200 ms.
gc.collect()
gc.freeze()
