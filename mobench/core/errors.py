"""User-facing errors: the CLI prints these as one line, without a traceback."""


class MobenchError(Exception):
    """A problem with the user's input or with the state on disk, fit to show as one line."""


class UnknownNameError(MobenchError, KeyError):
    """An unknown method, task, objective or config key."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConfigError(MobenchError, ValueError):
    """A config file or override that cannot be read or does not fit the config's fields."""


class PreferenceError(MobenchError, ValueError):
    """A preference vector that is not a point of the simplex of the task's objectives."""


class RunFolderError(MobenchError):
    """A run folder that is in use, incompatible with the requested run, or incomplete."""


class SourceUnavailableError(MobenchError):
    """A model or data source that is neither a local path nor reachable on the hub."""
