"""Bundled knowledge files (package data): taxonomy sources, categories.json, synonyms.json."""
