"""Websocket routes."""

from django.urls import path

from advisor.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
]
