"""Collection rules for the whole repository (docstring examples included)."""

import importlib.util

# The optional Pyro module cannot even be imported without Pyro.
collect_ignore = [] if importlib.util.find_spec("pyro") else ["src/poissongrad/pyro.py"]
