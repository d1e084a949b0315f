"""Transport-independent request handlers."""
