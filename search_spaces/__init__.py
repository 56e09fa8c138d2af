"""The example search spaces, installed as `mixsearch.search_spaces` (read via `mixsearch.resources`)."""
