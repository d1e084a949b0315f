"""The public web service."""
