"""One exception type for mistakes a user can fix; the CLI prints it as one line."""


class TinytxError(Exception):
    """Bad input or an impossible request: the message says what and how to fix it."""


class TrainingDiverged(TinytxError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


class Interrupted(BaseException):
    """Training stopped by SIGINT or SIGTERM (after its checkpoint): the CLI exits with 128 + the signal number."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message)
        self.signum = signum
