"""Doing the work: tasks and their action keys, shard plans, CI matrices and the runner.

Also the records the runner keeps (``history``, ``junit``, ``quarantine``).
May import ``analysis`` and everything below it; never ``views`` or ``cli``.
"""
