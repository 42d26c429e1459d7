"""Outgoing webhook/Slack/PagerDuty requests: no private targets, no redirects, no body read back."""

from __future__ import annotations

import socket

import pytest
from rest_framework.test import APIClient

from alerts.transports import TransportError
from alerts.transports import http as transport_http
from alerts.transports.http import TargetRefused, address_problem, post
from costwatch.projects.models import Role
from costwatch.projects.services import set_member
from tests.alerts.conftest import Reply


@pytest.fixture
def guarded(settings):  # noqa: ANN001, ANN201
    settings.COSTWATCH_ALLOW_PRIVATE_TARGETS = False


@pytest.fixture
def admin_client(acme, django_user_model) -> APIClient:  # noqa: ANN001
    user = django_user_model.objects.create_user("boss", password="pw-123456789")
    set_member(acme, user, Role.ADMIN)
    client = APIClient()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.5",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
    ],
)
def test_non_public_addresses_are_named(address: str) -> None:
    assert address_problem(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:84e5"])
def test_public_addresses_pass(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x",
        "http://localhost:8000/x",
        "http://10.0.0.5/x",
        "http://metadata.localhost/x",
    ],
)
def test_channels_pointing_at_private_targets_are_refused_on_create(guarded, admin_client, url: str) -> None:
    response = admin_client.post(
        "/api/v1/alerts/channels", {"kind": "webhook", "name": "hook", "config": {"url": url}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert "url" in response.content.decode()


def test_a_name_resolving_to_loopback_is_refused_at_send_time(guarded, receiver, monkeypatch) -> None:  # noqa: ANN001
    # A public-looking name whose DNS record points at this machine (a stand-in resolver: the
    # tests have no DNS server to publish such a record).
    port = receiver.server.server_address[1]
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        return real("127.0.0.1" if host == "hooks.attacker.example" else host, *args, **kwargs)

    monkeypatch.setattr(transport_http.socket, "getaddrinfo", resolver)
    with pytest.raises(TargetRefused) as refused:
        post(f"http://hooks.attacker.example:{port}/x", b"{}", {"Content-Type": "application/json"})
    assert "127.0.0.1 is a loopback address" in str(refused.value)
    assert refused.value.permanent
    assert receiver.requests == []


def test_a_redirect_is_not_followed(receiver) -> None:  # noqa: ANN001
    from tests.alerts.conftest import start_receiver

    target = start_receiver()
    try:
        receiver.replies.append(Reply(status=307, body=b"", headers={"Location": target.url + "/elsewhere"}))
        with pytest.raises(TransportError) as failed:
            post(receiver.url + "/hook", b"{}", {})
        assert failed.value.status_code == 307 and failed.value.permanent
        assert len(receiver.requests) == 1
        assert target.requests == []
    finally:
        target.server.shutdown()
        target.server.server_close()


def test_only_status_and_reason_of_an_answer_are_kept(receiver) -> None:  # noqa: ANN001
    receiver.replies += [
        Reply(status=200, body=b"internal: db password hunter2"),
        Reply(status=500, body=b"stack trace with SECRET=abc"),
    ]
    sent = post(receiver.url, b"{}", {})
    assert sent.detail == "HTTP 200 OK"
    with pytest.raises(TransportError) as failed:
        post(receiver.url, b"{}", {})
    assert str(failed.value) == "HTTP 500 Internal Server Error"
    assert "SECRET" not in str(failed.value)
