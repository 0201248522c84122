import uuid

from django.db import models


class Choice(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey("polls.Poll", on_delete=models.CASCADE, related_name="choices")
    text = models.CharField(max_length=500)
    position = models.IntegerField(default=0)
