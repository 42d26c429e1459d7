import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from costwatch.projects.models import KeyScope, Project
from costwatch.projects.services import authenticate_key


@pytest.mark.django_db
def test_createproject_prints_an_ingest_and_a_read_key() -> None:
    out = StringIO()
    call_command("createproject", "shop", "--timezone", "Asia/Tokyo", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["COSTWATCH_INGEST_KEY", "COSTWATCH_API_KEY"]
    ingest, read = (line.split("=", 1)[1] for line in lines)
    project = Project.objects.get(slug="shop")
    assert project.timezone == "Asia/Tokyo"
    assert authenticate_key(ingest, KeyScope.INGEST).project == project
    assert authenticate_key(read, KeyScope.READ).project == project


@pytest.mark.django_db
def test_createproject_refuses_a_duplicate_and_a_bad_timezone() -> None:
    call_command("createproject", "shop", stdout=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("createproject", "shop", stdout=StringIO())
    with pytest.raises(CommandError, match="IANA"):
        call_command("createproject", "other", "--timezone", "Nowhere/Land", stdout=StringIO())
    assert not Project.objects.filter(slug="other").exists()


@pytest.mark.django_db
def test_bootstrap_prints_the_same_working_keys_on_every_start(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("bootstrap", stdout=first)
    call_command("bootstrap", stdout=second)

    def keys(text: str) -> dict[str, str]:
        return dict(re.findall(r"^(COSTWATCH_(?:INGEST|API)_KEY)=(\S+)$", text, re.M))

    assert keys(first.getvalue()) == keys(second.getvalue())
    found = keys(first.getvalue())
    assert authenticate_key(found["COSTWATCH_INGEST_KEY"], KeyScope.INGEST).project.slug == "demo"
    assert authenticate_key(found["COSTWATCH_API_KEY"], KeyScope.READ).project.slug == "demo"
    assert "/v1/traces" in first.getvalue()
    password = re.search(r"Admin login:\s+admin / (\S+)", first.getvalue()).group(1)
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_bootstrap_prints_the_admin_password_only_when_it_creates_the_admin(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("bootstrap", stdout=first)
    call_command("bootstrap", stdout=second)
    password = re.search(r"Admin login:\s+admin / (\S+)", first.getvalue()).group(1)
    assert password not in second.getvalue()
    assert "password not shown" in second.getvalue()
    assert f"OTLP/gRPC:       {settings.COSTWATCH_GRPC_HOST}:{settings.COSTWATCH_GRPC_PORT}" in first.getvalue()
