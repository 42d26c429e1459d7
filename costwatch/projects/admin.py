from django.contrib import admin

from costwatch.projects.models import ApiKey, Membership, Project


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "timezone", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "project", "scope", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["key_hash", "prefix"]
