"""Projects, members and API keys: the only place that creates or checks keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from costwatch.projects.models import ApiKey, KeyScope, Membership, Project, Role

KEY_PREFIX = {KeyScope.INGEST: "cw_ingest_", KeyScope.READ: "cw_read_"}
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class IssuedKey:
    key: ApiKey
    secret: str  # the plain key: shown once, never stored


def hash_key(secret: str) -> str:
    # Keys are 256-bit random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


def create_project(slug: str, *, name: str = "", timezone_name: str = "UTC") -> Project:
    project = Project(slug=slug, name=name or slug, timezone=timezone_name)
    project.full_clean()
    project.save()
    return project


def issue_key(project: Project, scope: str, *, name: str = "", created_by: User | None = None) -> IssuedKey:
    scope = KeyScope(scope)
    secret = KEY_PREFIX[scope] + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        project=project,
        scope=scope,
        name=name,
        prefix=secret[: len(KEY_PREFIX[scope]) + 6],
        key_hash=hash_key(secret),
        created_by=created_by,
    )
    return IssuedKey(key=key, secret=secret)


def authenticate_key(secret: str, scope: str) -> ApiKey | None:
    """The active key with this secret and scope, or None. Records when it was last used."""
    if not secret or len(secret) > 200:
        return None
    key = (
        ApiKey.objects.select_related("project")
        .filter(key_hash=hash_key(secret), scope=scope, revoked_at__isnull=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # A conditional update keeps a busy key from writing on every request.
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key


def revoke_key(key: ApiKey) -> bool:
    """Revoke a key; False when it was already revoked."""
    return bool(ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


class LastAdminError(ValueError):
    """The change would leave the project without an admin."""


def _refuse_losing_last_admin(project: Project, user: User) -> None:
    # Locks the project's admin rows so two concurrent changes cannot both pass the check.
    admins = list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .values_list("user_id", flat=True)
    )
    if admins == [user.pk]:
        raise LastAdminError(f"{user} is the last admin of {project.slug}; make someone else admin first")


@transaction.atomic
def set_member(project: Project, user: User, role: str) -> Membership:
    role = Role(role)
    if role != Role.ADMIN:
        _refuse_losing_last_admin(project, user)
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def remove_member(project: Project, user: User) -> bool:
    """Remove a person from a project; False when they were not a member."""
    _refuse_losing_last_admin(project, user)
    deleted, _ = Membership.objects.filter(project=project, user=user).delete()
    return bool(deleted)


class PersonError(ValueError):
    """A person cannot be added as asked (no such account, a bad user name or e-mail); the message says why."""


@dataclass(frozen=True)
class AddedMember:
    membership: Membership
    created_account: bool
    set_password_path: str | None  # an account without a password: the one-time link path to choose one


def set_password_path(user: User) -> str:
    """The path of a one-time link where ``user`` chooses a password (Django's password-reset token).

    The link stops working once the password is set (the token hashes the password) and after
    ``PASSWORD_RESET_TIMEOUT`` seconds (Django's default: 3 days).
    """
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"/reset/{uid}/{default_token_generator.make_token(user)}/"


@transaction.atomic
def add_member(project: Project, username: str, role: str, *, create: bool = False, email: str = "") -> AddedMember:
    """Give the account ``username`` ``role`` in ``project``; with ``create``, make the account when it is missing.

    A new account gets no usable password: the caller hands the person ``set_password_path`` (shown
    once). Raises ``PersonError`` for a missing account (without ``create``) or an invalid user name
    or e-mail, ``LastAdminError`` when the change would leave the project without an admin, and
    ``ValueError`` for an unknown role.
    """
    from django.contrib.auth import get_user_model
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    role = Role(role)
    users = get_user_model()
    username = username.strip()
    user = users.objects.filter(**{users.USERNAME_FIELD: username}).first()
    created = False
    if user is None:
        if not create:
            raise PersonError(
                f"there is no account named {username!r}; create it (addmember --create, or Settings → Members) first"
            )
        user = users(**{users.USERNAME_FIELD: username}, email=email.strip())
        user.set_unusable_password()
        try:
            if email.strip():
                validate_email(email.strip())
            user.full_clean()
        except ValidationError as exc:
            raise PersonError("; ".join(exc.messages)) from None
        user.save()
        created = True
    membership = set_member(project, user, role)
    # A person who has not chosen a password yet gets a fresh link: the old one may have expired.
    needs_link = created or not user.has_usable_password()
    return AddedMember(membership, created, set_password_path(user) if needs_link else None)


def role_of(user: User | AnonymousUser, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def projects_of(user: User) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user=user).distinct()
