"""ASGI entry point for daphne: HTTP through Django, WebSocket through Channels consumers."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chat.console import websocket_urlpatterns as chat_console_sockets  # noqa: E402
from queues.consumers import websocket_urlpatterns as queue_sockets  # noqa: E402
from tenants.consumers import PortalWebSocketMiddleware, SameHostOriginValidator, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            SameHostOriginValidator(
                PortalWebSocketMiddleware(URLRouter(websocket_urlpatterns + queue_sockets + chat_console_sockets))
            )
        ),
    }
)
