"""Portal pages of the phone-network side: each portal's URL configuration picks its own lists."""

from django.urls import path

from pstn import views

number_urls = [
    path("numbers/", views.number_list, name="pstn_number_list"),
    path("numbers/<int:pk>/", views.number_detail, name="pstn_number_detail"),
]

# The god and brand portals.
provider_urls = [
    *number_urls,
    path("numbers/new/", views.number_create, name="pstn_number_create"),
    path("numbers/bulk/", views.number_bulk, name="pstn_number_bulk"),
    path("numbers/<int:pk>/delete/", views.number_delete, name="pstn_number_delete"),
    path("rating/carriers/<int:pk>/gateways/new/", views.gateway_create, name="pstn_gateway_create"),
    path("rating/gateways/<int:pk>/", views.gateway_update, name="pstn_gateway_update"),
    path("rating/gateways/<int:pk>/delete/", views.gateway_delete, name="pstn_gateway_delete"),
    path("routes/", views.route_list, name="pstn_route_list"),
    path("routes/new/", views.route_create, name="pstn_route_create"),
    path("routes/<int:pk>/", views.route_detail, name="pstn_route_detail"),
    path("routes/<int:pk>/carriers/", views.route_carrier_add, name="pstn_route_carrier_add"),
    path("routes/<int:pk>/carriers/<int:member>/remove/", views.route_carrier_remove, name="pstn_route_carrier_remove"),
    path("routes/<int:pk>/delete/", views.route_delete, name="pstn_route_delete"),
    path("clients/<int:pk>/outbound-policy/", views.client_outbound_policy, name="pstn_client_policy"),
]

# The brand portal only.
brand_urls = [
    path("routing-policy/", views.routing_policy, name="pstn_routing_policy"),
]

# The client portal (its operators; users get 404s).
client_urls = [
    *number_urls,
    path("outbound-policy/", views.own_outbound_policy, name="pstn_own_policy"),
]
