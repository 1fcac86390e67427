"""Publish: make validated marts visible to BI and report what they hold."""
