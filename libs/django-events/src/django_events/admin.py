"""The dead letters in the Django admin, for a service that installs ``django.contrib.admin``: read-only, with
the redrive and the skip of ``events_dead_letters`` as actions, which call the same functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest

from . import dead_letters
from .models import DeadLetter

# ModelAdmin is generic to the type checker only: Django's class takes no subscript at run time.
if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[DeadLetter]
else:
    _ModelAdmin = admin.ModelAdmin


class DeadLetterActionForm(helpers.ActionForm):
    # A skip is recorded with why: the admin asks beside the action menu, as the command asks for --reason.
    reason = forms.CharField(required=False, label="Reason (to skip)")


class DeadLetterAdmin(_ModelAdmin):
    list_display = ("id", "status", "dead_lettered_at", "event_type", "key", "reason")
    list_filter = ("status", "parks", "event_type")
    search_fields = ("=event_id", "key", "reason")
    ordering = ("id",)
    action_form = DeadLetterActionForm
    actions = ("redrive", "skip")

    # Recorded by the consumer and changed only through a redrive or a skip, which keep its key's held events and
    # the inbox consistent with it: no form edits a row.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: DeadLetter | None = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        # Django's permission to change a dead letter, which no form uses, is the one to redrive or skip it.
        return super().has_change_permission(request)

    @admin.action(description="Redrive the selected dead letters", permissions=["resolve"])
    def redrive(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        for pk in queryset.order_by("id").values_list("pk", flat=True):
            try:
                done = dead_letters.redrive(pk)
            except dead_letters.CannotRedrive as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.message_user(request, f"dead letter {pk} redriven: {done.dead_letter.resolution}; "
                                       f"{done.released} held event(s) released", messages.SUCCESS)

    @admin.action(description="Skip the selected dead letters (with the reason given)", permissions=["resolve"])
    def skip(self, request: HttpRequest, queryset: QuerySet[DeadLetter]) -> None:
        reason = request.POST.get("reason", "")
        for pk in queryset.order_by("id").values_list("pk", flat=True):
            try:
                released = dead_letters.skip(pk, reason)
            except (dead_letters.CannotRedrive, ValueError) as error:
                self.message_user(request, f"dead letter {pk}: {error}", messages.ERROR)
                continue
            self.message_user(request, f"dead letter {pk} skipped; {released} held event(s) released", messages.SUCCESS)


# Django imports this module only for a project that installs its admin; the check keeps a direct import (a test,
# a project's own admin site) from needing the default site.
if apps.is_installed("django.contrib.admin"):
    admin.site.register(DeadLetter, DeadLetterAdmin)
