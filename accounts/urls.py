"""The /profile pages (the account's API keys) and /team (members, invitations, switching)."""

from django.urls import path

from accounts import team_views, views

urlpatterns = [
    path("profile", views.profile, name="profile"),
    path("profile/keys", views.api_key_create, name="api_key_create"),
    path("profile/keys/<int:key_id>/revoke", views.api_key_revoke_view, name="api_key_revoke"),
    path("team", team_views.team, name="team"),
    path("team/create", team_views.team_create_view, name="team_create"),
    path("team/invitations", team_views.invitation_create, name="invitation_create"),
    path(
        "team/invitations/<int:invitation_id>/revoke",
        team_views.invitation_revoke_view,
        name="invitation_revoke",
    ),
    path(
        "team/invitations/accept/<str:token>",
        team_views.invitation_accept_view,
        name="invitation_accept",
    ),
    path("team/members/<int:member_id>/role", team_views.member_role_view, name="member_role"),
    path(
        "team/members/<int:member_id>/remove", team_views.member_remove_view, name="member_remove"
    ),
    path("team/leave", team_views.team_leave_view, name="team_leave"),
    path("account/switch", team_views.account_switch_view, name="account_switch"),
]
