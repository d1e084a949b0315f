"""The background job worker."""
