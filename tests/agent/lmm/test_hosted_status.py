"""HTTP 4xx from a hosted LMM says what was refused, instead of calling the LMM unavailable (issue 14)."""

from __future__ import annotations

import pytest

from mereo.agent.lmm.hosted import HostedLMM
from mereo.errors import LMMRequestError, LMMUnavailableError, MereoError
from mereo.types import ImageRef
from tests.agent.lmm.test_hosted import ChatServer, images, server  # noqa: F401 - fixtures


@pytest.mark.parametrize(
    ("status", "says"),
    [(401, "refused the API key"), (403, "refused access"), (400, "refused the request"), (404, "no model")],
)
def test_refusals_name_the_request_or_the_key(
    server: ChatServer,  # noqa: F811
    images: list[ImageRef],  # noqa: F811
    status: int,
    says: str,
) -> None:
    server.replies = [("status", status)]
    with pytest.raises(LMMRequestError, match=says) as err:
        HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)
    assert f"HTTP {status}" in str(err.value)
    assert not isinstance(err.value, LMMUnavailableError) and isinstance(err.value, MereoError)
    assert len(server.requests) == 1  # a refusal is not retried


def test_server_errors_are_still_unavailable(server: ChatServer, images: list[ImageRef]) -> None:  # noqa: F811
    server.replies = [("status", 502)]
    with pytest.raises(LMMUnavailableError, match="HTTP 502"):
        HostedLMM("m", base_url=server.url, api_key="k", retries=0).plan("q?", images)
