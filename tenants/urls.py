"""Portal pages of the hierarchy, grouped so each portal's URL configuration picks its own."""

from django.urls import path

from tenants.views import account, brands, clients, operators, second_factor, status

account_urls = [
    path("account/", account.profile, name="account_profile"),
    path("account/password/", account.password, name="account_password"),
    path("account/tokens/", account.tokens, name="account_tokens"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke_view, name="account_token_revoke"),
    path("account/second-factor/", second_factor.second_factor_page, name="account_second_factor"),
    path("accounts/<int:pk>/second-factor/reset/", second_factor.second_factor_reset_view, name="second_factor_reset"),
]

operator_urls = [
    path("operators/", operators.operator_list, name="operator_list"),
    path("operators/new/", operators.operator_create_view, name="operator_create"),
    path("operators/<int:pk>/", operators.operator_update_view, name="operator_update"),
    path("operators/<int:pk>/delete/", operators.operator_delete_view, name="operator_delete"),
    path("operators/<int:pk>/unlock/", operators.operator_unlock_view, name="operator_unlock"),
]

# The god and brand portals manage clients with the same pages.
client_urls = [
    path("clients/", clients.client_list, name="client_list"),
    path("clients/new/", clients.client_create_view, name="client_create"),
    path("clients/<int:pk>/", clients.client_detail, name="client_detail"),
    *[
        path(f"clients/<int:pk>/{action}/", clients.client_action, {"action": action}, name=f"client_{action}")
        for action in clients.ACTIONS
    ],
]

god_urls = [
    path("brands/", brands.brand_list, name="brand_list"),
    path("brands/new/", brands.brand_create_view, name="brand_create"),
    path("brands/<int:pk>/", brands.brand_update_view, name="brand_update"),
    path("brands/<int:pk>/delete/", brands.brand_delete_view, name="brand_delete"),
    path("clients/<int:pk>/hard-delete/", clients.client_hard_delete, name="client_hard_delete"),
    path("status/", status.status, name="status"),
]

brand_urls = [
    path("settings/", brands.brand_settings, name="settings"),
]

client_portal_urls = [
    path("settings/", clients.client_settings, name="settings"),
]
