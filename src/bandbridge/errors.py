"""The one exception type for errors a user can cause; the CLI prints its message and exits 2."""


class BandbridgeError(Exception):
    """A problem with the user's input, config or files; the message names the culprit and fix."""


class BandChoiceError(BandbridgeError):
    """The model's input bands cannot be found in a file as given (no such roles, an index or name
    it lacks, one band to a model made from colour): a caller that has its own band selection
    (a recipe's, adapt's) falls back to it, where a scaling or content refusal must stand."""
