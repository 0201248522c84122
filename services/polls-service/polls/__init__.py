"""Polls: the aggregate, its owner-only changes and the events announcing them.

``status`` is stored as the owner left it ("open" until closed). A poll whose ``closes_at`` has passed is
*reported* as "closed" by this API (``Poll.status_at``), but no event is published at that moment: nothing
runs at ``closes_at``. So every consumer of poll events (choice-service, vote-service) compares ``closes_at``
with its own clock instead of waiting for a poll.closed that never comes. Such a poll can no longer be
changed; closing it explicitly is still allowed, and announces poll.closed.

``total_votes`` is not counted here: it is a projection of vote-service's vote.cast events, so it lags the
votes by the time the events take to arrive.
"""
