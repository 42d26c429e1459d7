import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from costwatch.projects.models import ApiKey, KeyScope
from costwatch.projects.services import (
    authenticate_key,
    create_project,
    issue_key,
    revoke_key,
)


def test_keys_are_stored_hashed_and_authenticate_once_issued(acme) -> None:
    issued = issue_key(acme, KeyScope.INGEST, name="prod")
    stored = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.secret.startswith("cw_ingest_")
    assert issued.secret not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.key_hash == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert authenticate_key(issued.secret, KeyScope.INGEST) == stored


def test_read_key_cannot_ingest_and_ingest_key_cannot_read(acme) -> None:
    ingest = issue_key(acme, KeyScope.INGEST).secret
    read = issue_key(acme, KeyScope.READ).secret
    assert authenticate_key(read, KeyScope.INGEST) is None
    assert authenticate_key(ingest, KeyScope.READ) is None


def test_revoked_key_is_refused(acme) -> None:
    issued = issue_key(acme, KeyScope.READ)
    assert revoke_key(issued.key) is True
    assert revoke_key(issued.key) is False
    assert authenticate_key(issued.secret, KeyScope.READ) is None


def test_unknown_or_absurd_keys_are_refused(acme) -> None:
    issue_key(acme, KeyScope.READ)
    assert authenticate_key("", KeyScope.READ) is None
    assert authenticate_key("cw_read_nope", KeyScope.READ) is None
    assert authenticate_key("x" * 10_000, KeyScope.READ) is None


def test_key_belongs_to_its_own_project_only(acme, globex) -> None:
    acme_key = issue_key(acme, KeyScope.INGEST).secret
    globex_key = issue_key(globex, KeyScope.INGEST).secret
    assert authenticate_key(acme_key, KeyScope.INGEST).project == acme
    assert authenticate_key(globex_key, KeyScope.INGEST).project == globex


def test_last_used_is_recorded_without_a_write_per_request(acme) -> None:
    issued = issue_key(acme, KeyScope.READ)
    authenticate_key(issued.secret, KeyScope.READ)
    first = ApiKey.objects.get(pk=issued.key.pk).last_used_at
    assert first is not None
    authenticate_key(issued.secret, KeyScope.READ)
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at == first
    ApiKey.objects.filter(pk=issued.key.pk).update(last_used_at=timezone.now() - timedelta(minutes=5))
    authenticate_key(issued.secret, KeyScope.READ)
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at > first


@pytest.mark.django_db
def test_project_timezone_must_be_iana() -> None:
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        create_project("bad-tz", timezone_name="Mars/Olympus")


def test_the_last_admin_can_be_neither_demoted_nor_removed(acme) -> None:
    from django.contrib.auth import get_user_model

    from costwatch.projects.models import Membership, Role
    from costwatch.projects.services import LastAdminError, remove_member, set_member

    users = get_user_model().objects
    ada, bob = users.create_user("ada", password="x" * 12), users.create_user("bob", password="x" * 12)
    set_member(acme, ada, Role.ADMIN)
    set_member(acme, bob, Role.FINANCE)
    with pytest.raises(LastAdminError, match="last admin"):
        set_member(acme, ada, Role.FINANCE)
    with pytest.raises(LastAdminError):
        remove_member(acme, ada)
    assert Membership.objects.get(project=acme, user=ada).role == Role.ADMIN
    assert remove_member(acme, bob) is True and remove_member(acme, bob) is False
    set_member(acme, bob, Role.ADMIN)
    set_member(acme, ada, Role.ONCALL)  # another admin exists now
    assert remove_member(acme, ada) is True
