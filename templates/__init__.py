"""Jinja templates and the YOLOv8 layer table, installed as `mixsearch.templates` (read via `mixsearch.resources`)."""
