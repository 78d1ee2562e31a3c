"""The one exception type for errors a user can cause; the CLI prints its message and exits 2."""


class BandbridgeError(Exception):
    """A problem with the user's input, config or files; the message names the culprit and fix."""
