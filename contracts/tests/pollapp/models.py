from django.db import models

import read_models.polls


class PollView(read_models.polls.PollViewWithQuestion):
    class Meta(read_models.polls.PollViewWithQuestion.Meta):
        db_table = "pollapp_poll_view"


class OwnerOnlyPollView(read_models.polls.PollView):
    """A service that keeps no question: the projection writes only what the model declares."""

    class Meta(read_models.polls.PollView.Meta):
        db_table = "pollapp_owner_only_poll_view"


class TooShortPollView(read_models.polls.PollViewWithQuestion):
    """The template's read model as it was: a question column shorter than polls-service accepts."""

    question = models.CharField(max_length=200)

    class Meta(read_models.polls.PollViewWithQuestion.Meta):
        db_table = "pollapp_too_short_poll_view"
