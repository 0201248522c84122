from typing import Any

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView


class WhoAmIApi(APIView):
    def get(self, request: Any) -> Response:
        return Response({"id": request.user.id, "username": request.user.username})


urlpatterns = [path("whoami/", WhoAmIApi.as_view(), name="whoami")]
