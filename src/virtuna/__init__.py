"""Virtuna: pre-posting performance prediction for short-form video drafts."""

__version__ = "0.1.0"
