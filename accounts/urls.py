"""The /profile pages: the account's profile and its API keys (create, revoke)."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("profile", views.profile, name="profile"),
    path("profile/keys", views.api_key_create, name="api_key_create"),
    path("profile/keys/<int:key_id>/revoke", views.api_key_revoke_view, name="api_key_revoke"),
]
