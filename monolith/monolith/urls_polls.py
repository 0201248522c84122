from monolith.urls import handler404, handler500, patterns

__all__ = ["handler404", "handler500", "urlpatterns"]

urlpatterns = patterns("polls")
