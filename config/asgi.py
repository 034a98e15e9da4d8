"""ASGI entry point for daphne: HTTP through Django, WebSocket through Channels consumers."""

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
