"""The model zoo's reference numbers, read from the library's metafiles: see :mod:`jobspecs.zoo`.

The reader lives with the spec library (pure Python, no torch), so the dashboard and the leaderboard
can read it without importing the models; this name stays for the engine's side.
"""
from jobspecs.zoo import ZooEntry, metafiles, zoo_entries, zoo_entry

__all__ = ["ZooEntry", "metafiles", "zoo_entries", "zoo_entry"]
