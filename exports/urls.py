"""Portal pages of the exports (every portal; each view checks the role and the scope)."""

from django.urls import path

from exports import views

urlpatterns = [
    path("exports/", views.export_page, name="export_page"),
    path("exports/<int:pk>/download.csv", views.export_download, name="export_download"),
    path("exports/pushes/", views.export_push_list, name="export_push_list"),
    path("exports/pushes/new/", views.export_push_new, name="export_push_new"),
    path("exports/pushes/<int:pk>/", views.export_push_detail, name="export_push_detail"),
    path("exports/pushes/<int:pk>/edit/", views.export_push_edit, name="export_push_edit"),
    path("exports/pushes/<int:pk>/delete/", views.export_push_delete, name="export_push_delete"),
    path("exports/pushes/<int:pk>/run/", views.export_push_run, name="export_push_run"),
]
