from django.contrib import admin
from django.urls import include, path
from shop import views

from procrastinate.contrib.django.dashboard import dashboard_urls

urlpatterns = [
    path("admin/", admin.site.urls),
    path("orders/", views.create_order),
    path("orders/<int:order_id>/", views.order_detail),
    path("queue/", include(dashboard_urls())),
]
