"""Expected failures. The CLI turns them into `error:` / `hint:` lines, never a traceback."""


class BakectlError(Exception):
    """A failure the user can act on. exit_code 2 = bad input, 1 = runtime failure."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(BakectlError):
    """Bad input: an unknown id, a malformed descriptor, a bad flag."""

    exit_code = 2


class BuildError(BakectlError):
    """A build or push failed for a reason the user must fix (their Dockerfile, auth)."""

    exit_code = 1
