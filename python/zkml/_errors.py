"""The exceptions of zkml. Each carries the message the `zkml` command line prints.

The classes follow the command line's exit codes: a refused proof (exit 1) raises
`VerificationError`, a bad file or bad values (exit 2) `ZkmlError` itself (`InputError` for
arrays of the wrong shape or values), a model the tool does not support (exit 3)
`UnsupportedModelError`.
"""


class ZkmlError(Exception):
    """Base class of every error zkml raises; alone, a bad file or bad values (CLI exit 2)."""

    #: the exit code of the command line for the same failure
    exit_code = 2


class VerificationError(ZkmlError):
    """The proof was refused: it does not verify against the key, or not for these inputs."""

    exit_code = 1


class UnsupportedModelError(ZkmlError):
    """The model has ops, a structure or numbers the tool does not take yet (CLI exit 3)."""

    exit_code = 3


class InputError(ZkmlError, ValueError):
    """An array of the wrong shape, dtype or values (not finite) for the model."""


class InternalError(ZkmlError):
    """A bug in zkml (a panic in the native code, caught at the boundary): please report it."""

    exit_code = 101
