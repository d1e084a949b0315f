"""Import inference: pure extraction of import statements and their resolution to repo files.

``python`` reads Python sources with ``ast``; ``js`` reads JavaScript and TypeScript
with a small tokenizer. Each offers ``imports(source, path)`` (one file's
ImportRefs) and a resolver that maps an ImportRef to repo files. ``resolve`` holds
the nouns they share and ``edges``, which turns a repository's sources into
file -> file import edges plus the imports it could not resolve, reported, never
guessed.
"""
