from django.contrib import admin
from django.urls import include, path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("orders/", views.create_order),
    path("orders/<int:order_id>/", views.order_detail),
]

try:
    from procrastinate.contrib.django.dashboard import dashboard_urls
except ImportError:
    # procrastinate 3.10 has no dashboard: tests/py/migrations/test_upstream.py
    # migrates this project with it first, and Django's checks import the URLs
    pass
else:
    urlpatterns.append(path("queue/", include(dashboard_urls())))
