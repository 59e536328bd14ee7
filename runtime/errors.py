"""One error base class, so the CLI boundary can turn any expected failure into
a message and exit code 2 instead of a traceback."""


class AbcgenError(Exception):
    """A failure the user can act on; its message is shown as is."""

    exit_code = 2
