"""Pure readers: manifest, lockfile, rule and source bytes in, typed data out.

No git, no disk, no network: every function takes bytes and a path for its errors.
``manifests`` (BUILD.toml and the ecosystems), ``lockfiles``, ``infer`` (imports)
and ``rules``. Imports only the shared nouns.
"""
