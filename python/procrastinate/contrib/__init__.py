"""Optional integrations: other database drivers, Django."""
