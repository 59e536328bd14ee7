"""The error types the CLI boundary turns into a message and an exit code instead
of a traceback."""


class AbcgenError(Exception):
    """A failure the user can act on; its message is shown as is."""

    exit_code = 2


class BeyondLimits(AbcgenError):
    """A tune asks for more than abcgen writes or plays (runtime/abc/limits.py):
    that tune is skipped with this message, the rest of a tunebook or session goes on."""


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP), raised where the program is so that
    its `finally` blocks tidy up on the way out (a half-written temporary file);
    a BaseException, as KeyboardInterrupt is, so that `except Exception` lets it by."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
