"""The one exception type for a user's mistake: the CLI prints its message and exits with 2."""


class UserError(Exception):
    """A mistake in the user's config, data or command line; shown as one line, no traceback."""

    exit_code = 2

