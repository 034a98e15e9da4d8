import pytest

from tests.webhooks.receiver import endpoint_of_fixture, receiver_fixture, webhook_worker_fixture  # noqa: F401


@pytest.fixture(autouse=True)
def _webhooks_reach_the_test(settings):
    """The tests' receivers listen on 127.0.0.1 over http: both allowed, as OCX_WEBHOOK_ALLOW_* would."""
    settings.OCX_WEBHOOK_ALLOW_HTTP = True
    settings.OCX_WEBHOOK_ALLOW_PRIVATE = True
