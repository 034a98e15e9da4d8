from django.apps import AppConfig


class ChatConfig(AppConfig):
    """Web chat of a client (client schema): a widget on the client's own web site opens conversations
    that wait in the client's queues, as calls do, and are answered by its agents in the portal."""

    name = "chat"
