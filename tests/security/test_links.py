"""Page links through both gateways: a service builds them, but its own host and scheme (``http://polls-service``
behind the cluster's nginx) and whatever Host a client writes must never become a link a client follows."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from tests.e2e.conftest import eventually
from tests.security.conftest import LIMITS_ON, Platform, User, client, fresh_user

pytestmark = pytest.mark.parametrize("platform", [LIMITS_ON], indirect=True)
SOURCE = "127.0.5.1"


@pytest.fixture(scope="module")
def polls(platform: Platform) -> list[str]:
    """Three polls, so that pages of one have a next and a previous page."""
    owner: User = fresh_user(platform.url, SOURCE)
    with client(platform.url, SOURCE) as http:
        return [
            eventually(lambda: http.post("/api/polls/", json={"question": f"Page {n}?"}, headers=owner.authorization),
                       lambda response: response.status_code == 201).json()["id"]
            for n in range(3)
        ]


def test_page_links_carry_no_host_or_scheme_and_lead_back_through_the_same_gateway(gateway_url: str, polls: list[str]):
    address = urlsplit(gateway_url)
    with client(gateway_url, SOURCE) as http:
        # localhost is a name the services accept as Host (ALLOWED_HOSTS): still no part of any link.
        first = http.get("/api/polls/?page_size=1", headers={"Host": f"localhost:{address.port}",
                                                            "X-Forwarded-Host": "evil.example",
                                                            "X-Forwarded-Proto": "https"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["next"] == "/api/polls/?page=2&page_size=1", body
        assert body["previous"] is None

        second = http.get(urljoin(gateway_url + "/api/polls/", body["next"]))
        assert second.status_code == 200, second.text
        assert second.json()["previous"] == "/api/polls/?page_size=1"
        assert second.json()["results"][0]["id"] != body["results"][0]["id"]
