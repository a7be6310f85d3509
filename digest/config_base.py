"""What the settings modules share: the errors they raise and reading one variable."""

from __future__ import annotations


class ConfigError(ValueError):
    """An environment variable holds a value digest cannot use."""


class EnvironmentProblem(Exception):
    """A well-formed setting the machine cannot serve (a path not writable, a database not reachable).

    The message is one line naming the setting and what to do; the CLI exits 1 with it.
    """


def env_value(env: dict, name: str, default: str | None = None) -> str | None:
    """The stripped value of `name` in `env`, or `default` when unset or blank."""
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()
