"""Mereo."""
