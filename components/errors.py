"""Errors shared by nanguard's components and its command line."""


class GuardBlockedError(RuntimeError):
    """A nanguard guard refused to let the run go on.

    Raised by a component executor when its policy says the data or the model is not fit to
    continue (non-finite values beyond what can be repaired, a model that predicts NaN or Inf,
    a model holding a non-finite weight). The `nanguard` command maps it to exit code 3.

    `violations` holds the findings as `violations.Violation` records (empty where a guard has
    not been moved to them yet); the message is their lines, for logs and tracebacks.
    """

    def __init__(self, message: str = "", violations=()):
        super().__init__(message)
        self.violations = list(violations)


def guard_block(error: BaseException | None) -> GuardBlockedError | None:
    """The `GuardBlockedError` in `error`'s chain of causes and contexts, if any.

    A context hidden with `raise ... from None` is not followed; a cycle ends the walk.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, GuardBlockedError):
            return error
        seen.add(id(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


class InputError(ValueError):
    """Input nanguard cannot use: a file, column, flag or config key; the command exits 2.

    The message names the file, column, split, flag or key, and says what to do.
    """
