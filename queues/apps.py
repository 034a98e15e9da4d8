from django.apps import AppConfig


class QueuesConfig(AppConfig):
    """Call queues (ACD) of a client (client schema): callers wait with music and announcements, agents
    (users with a line) log in, pause, and are offered the callers as the queue's strategy says."""

    name = "queues"

    def ready(self) -> None:
        from queues import destinations  # noqa: F401  (registers the "queue" destination kind)
