"""The project's errors: each str() is one line naming what failed, where, and what to do next."""


class RemoteError(RuntimeError):
    """A host refused or failed an operation; str() is one line with the fix."""


class ValidationFailed(RemoteError):
    """A candidate file failed its check (sshd -t, named-checkzone, visudo -c): nothing was installed."""


class HostKeyError(RemoteError):
    """The machine reached is not the one on record (unknown or changed host key)."""
