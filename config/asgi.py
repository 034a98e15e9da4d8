"""ASGI entry point for daphne: HTTP through Django, WebSocket through Channels consumers."""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.console import websocket_urlpatterns as chat_console_sockets  # noqa: E402
from chat.visitor_consumers import VisitorsFirst, visitor_application, visitor_http  # noqa: E402
from im.consumers import websocket_urlpatterns as im_sockets  # noqa: E402
from queues.consumers import websocket_urlpatterns as queue_sockets  # noqa: E402
from tenants.consumers import PortalWebSocketMiddleware, SameHostOriginValidator, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Web chat's visitors come from the clients' own web sites: their end checks the widget's origins
        # itself (chat/visitor_consumers.py), never the portals' same-host rule.
        "http": VisitorsFirst(visitor_http, django_asgi_app, "/chat/api/"),
        "websocket": VisitorsFirst(
            visitor_application,
            AllowedHostsOriginValidator(
                SameHostOriginValidator(
                    PortalWebSocketMiddleware(
                        URLRouter(websocket_urlpatterns + queue_sockets + im_sockets + chat_console_sockets)
                    )
                )
            ),
            "/chat/ws/",
        ),
    }
)

# The collector of a busy web process. Measured with bench/chat (2,000 chat sessions on one process):
# CPython's full collections took 200 to 460 ms each, the whole loop stopped, and set the chat round
# trip's p99 (0.3 to 0.4 s, where its p50 was 4 ms). What start-up made (Django, every module) is
# frozen: kept for good, never scanned again. And the young generation collects every 50,000
# allocations, not 700: a line's short-lived objects die before a collection sees them, so few reach
# the old generation and full collections become rare (p99 19 ms in the same bench). Objects still go
# when nothing refers to them; a cycle of garbage waits for a collection of its generation.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 100)
