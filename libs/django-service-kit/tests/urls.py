from django.urls import include, path

from tests import views

handler400 = "service_kit.errors.bad_request"
handler403 = "service_kit.errors.permission_denied"
handler404 = "service_kit.errors.page_not_found"
handler500 = "service_kit.errors.server_error"

urlpatterns = [
    path("", include("service_kit.urls")),
    path("whoami/", views.WhoAmIApi.as_view(), name="whoami"),
    path("errors/<str:kind>/", views.RaiseApi.as_view(), name="raise"),
    path("echo/", views.EchoApi.as_view(), name="echo"),
    path("strict-echo/", views.StrictEchoApi.as_view(), name="strict-echo"),
    path("tight/", views.TightlyThrottledApi.as_view(), name="tight"),
    path("items/", views.ItemListApi.as_view(), name="items"),
    path("counted/", views.CountedCreateApi.as_view(), name="counted"),
    path("watched/<str:key>/", views.WatchedApi.as_view(), name="watched"),
    path("plain-boom/", views.plain_boom, name="plain-boom"),
    path("plain-forbidden/", views.plain_forbidden, name="plain-forbidden"),
]
