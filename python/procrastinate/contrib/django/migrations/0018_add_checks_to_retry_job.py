"""procrastinate 3.x's migration of this name, replaced by 0001_create_schema
(procrastinate.contrib.django.upstream_migrations)."""

from procrastinate.contrib.django.upstream_migrations import stub

Migration = stub(__name__)
