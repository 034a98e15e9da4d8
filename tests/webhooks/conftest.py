import pytest

from tests.webhooks.receiver import receiver, webhook_worker  # noqa: F401 (fixtures)


@pytest.fixture(autouse=True)
def _webhooks_reach_the_test(settings):
    """The tests' receivers listen on 127.0.0.1 over http: both allowed, as OCX_WEBHOOK_ALLOW_* would."""
    settings.OCX_WEBHOOK_ALLOW_HTTP = True
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def endpoint_of(world):
    """endpoint_of(url, events=...) -> an endpoint of client a1 saved by its operator (committed: the
    worker and the engines see it); all removed after the test."""
    from django_tenants.utils import tenant_context

    from tests.waiting import committed
    from webhooks.models import Endpoint
    from webhooks.services import endpoint_save

    def make(url: str, events=("call.ringing", "call.answered", "call.ended"), **fields):
        return committed(endpoint_save, actor=world.client_a1_op, client=world.client_a1, url=url,
                         events=list(events), **fields)  # fmt: skip

    yield make

    def remove():
        with tenant_context(world.client_a1):
            Endpoint.objects.all().delete()

    committed(remove)
