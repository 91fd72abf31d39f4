"""Django integration (placeholder: to be written in its own issue)."""
