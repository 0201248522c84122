"""Input serializers that say what is wrong with a request instead of quietly ignoring part of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

__all__ = ["StrictInputSerializer", "represent"]

AnyField = serializers.Field[Any, Any, Any, Any]

NOT_ACCEPTED = "This field is not accepted here."
# The JSON type each field's schema states. DRF would coerce others (a number into a CharField's string, "5"
# into an IntegerField): a client sending the wrong type gets told, as the schema says it would.
JSON_TYPES: tuple[tuple[type[AnyField], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "a boolean"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.CharField, (str,), "a string"),
    (serializers.UUIDField, (str,), "a string"),
    (serializers.DateTimeField, (str,), "a string"),
    (serializers.ListField, (list,), "an array"),
    (serializers.DictField, (dict,), "an object"),
)


def _wrong_json_type(field: AnyField, value: Any) -> str | None:
    """What the value should have been, if its JSON type is not the field's."""
    if value is None:
        return None  # the field's own allow_null decides
    for field_class, json_types, name in JSON_TYPES:
        if isinstance(field, field_class):
            is_bool_for_number = isinstance(value, bool) and bool not in json_types
            return name if is_bool_for_number or not isinstance(value, json_types) else None
    return None


class StrictInputSerializer(serializers.Serializer[Any]):
    # Refuses fields it does not declare: a client that sends `owner_id` or `voter_id` believes it sets them, and
    # dropping them silently would hide that it does not. (A comment, not a docstring: drf-spectacular would
    # publish a docstring as the description of every input schema.)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            undeclared = sorted(set(data) - set(self.fields))
            if undeclared:
                raise serializers.ValidationError({name: [NOT_ACCEPTED] for name in undeclared})
            mistyped = {name: _wrong_json_type(field, data[name]) for name, field in self.fields.items() if name in data}
            errors = {name: [f"Must be {expected}."] for name, expected in mistyped.items() if expected}
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # a body that is no JSON object is DRF's 400 "Invalid data"


_shared: dict[type[serializers.BaseSerializer[Any]], serializers.BaseSerializer[Any]] = {}


def represent(serializer_class: type[serializers.BaseSerializer[Any]], instance: Any) -> Any:
    """``serializer_class(instance).data`` for a hot path: an output serializer builds (deep-copies) its fields for
    every instance it is made for, which costs more than turning the instance into data. One shared instance per
    class keeps its fields; ``to_representation`` reads them and keeps no state, so threads may share it."""
    serializer = _shared.get(serializer_class) or _shared.setdefault(serializer_class, serializer_class())
    return serializer.to_representation(instance)
