"""Git access: revisions, snapshots of a commit or the worktree, blobs and changes.

The only package that imports pygit2 (``workspace``); ``changes`` diffs two snapshots
as plain data. It imports only the shared nouns (``errors``, ``model``).
"""
