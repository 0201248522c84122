"""Choices of a poll.

Polls live in polls-service; this service knows them only through ``PollView``, its projection of poll.*
events, and never calls polls-service. So a poll created a moment ago may be unknown here for a few
milliseconds: the API answers 404 ``poll_not_known`` and the client retries.

A poll takes choices, and its choices change, only while it is open: not closed, and not past its
``closes_at`` (polls-service keeps ``status`` as stored and announces no event when ``closes_at`` passes, so
every consumer compares ``closes_at`` with its own clock). When a poll is deleted its choices are deleted too,
each with a ``choice.deleted`` event, so consumers of choice events need not also follow poll deletions.
"""
