"""Input serializers that say what is wrong with a request instead of quietly ignoring part of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

__all__ = ["StrictInputSerializer"]

NOT_ACCEPTED = "This field is not accepted here."


class StrictInputSerializer(serializers.Serializer[Any]):
    # Refuses fields it does not declare: a client that sends `owner_id` or `voter_id` believes it sets them, and
    # dropping them silently would hide that it does not. (A comment, not a docstring: drf-spectacular would
    # publish a docstring as the description of every input schema.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            undeclared = sorted(set(data) - set(self.fields))
            if undeclared:
                raise serializers.ValidationError({name: [NOT_ACCEPTED] for name in undeclared})
        return super().to_internal_value(data)  # a body that is no JSON object is DRF's 400 "Invalid data"
