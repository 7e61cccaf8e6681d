"""Grid overrides from a TOML file (``poissongrad guide --config FILE``): change a grid without
editing code.

One table per experiment, named as its subcommand; each key a field of that experiment's
config (:mod:`poissongrad.experiments.registry`)::

    [gradients]
    n_samples = 2000          # a value: every job of the grid takes it
    temperature = [0.1, 0.3]  # a list: every job runs once per value (duplicates run once)

    [fidelity]
    rates = [1.0, 10.0]       # a field that holds a tuple takes a list as its value;
                              # a list of lists runs once per inner list

Experiments without a table keep their grid. Overridden jobs are other jobs (a job's key is its
whole config), so a results folder keeps the grid's finished jobs and the overridden ones side by
side; the run's selection (what the report reads) is the overridden grid.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "apply_overrides", "load_overrides"]


class ConfigError(ValueError):
    """A config file that cannot override the grids (the command reports it in one line)."""


def load_overrides(path: str | Path, experiments: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The tables of the TOML file at ``path``, checked to name only ``experiments``.

    :class:`ConfigError` (naming the file) for a missing or unreadable file, TOML that does not
    parse, a table of an unknown experiment or a key that is not a table.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            tables = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}") from None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    known = list(experiments)
    for name, table in tables.items():
        if name not in known:
            raise ConfigError(f"{path}: unknown experiment [{name}]; expected one of {known}")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}]), got {table!r}")
    return tables


def apply_overrides(configs: list[Any], changes: Mapping[str, Any], where: str) -> list[Any]:
    """``configs`` (dataclass instances of one type) with ``changes`` applied (see the module
    docstring), in the grid's order (duplicates merge when the jobs are keyed).

    :class:`ConfigError` naming ``where`` (the file and table) for a key that is not a field, an
    empty list, or a value the config refuses.
    """
    if not configs or not changes:
        return list(configs)
    fields = {f.name for f in dataclasses.fields(configs[0])}
    for key in changes:
        if key not in fields:
            raise ConfigError(
                f"{where}: {key!r} is not a setting; expected one of {sorted(fields)}"
            )
    result = list(configs)
    for key, value in changes.items():
        holds_tuple = isinstance(getattr(configs[0], key), tuple)
        sweep = isinstance(value, list) and (
            not holds_tuple or all(isinstance(v, list) for v in value)
        )
        values = value if sweep else [value]
        if not values:
            raise ConfigError(f"{where}: {key} = [] leaves no job")
        if holds_tuple:
            values = [tuple(v) if isinstance(v, list) else v for v in values]
        try:
            result = [dataclasses.replace(c, **{key: v}) for c in result for v in values]
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {key} = {value!r}: {err}") from None
    return result
