"""Rendering results for people and machines: text, JSON and DOT.

Pure functions from result data to strings; printing is the CLI's job. May import
everything below it, never ``cli``.
"""
