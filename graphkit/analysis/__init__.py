"""From snapshots to answers: the graph, content keys, affected targets and queries.

``graph`` builds the validated build graph from the readers' data, ``keys`` hashes
it, ``affected`` walks it; ``session`` ties them to one open repository with its
memos. May import ``repo``, ``readers``, ``cache`` and the shared nouns, never
``execution``, ``views`` or ``cli``.
"""
