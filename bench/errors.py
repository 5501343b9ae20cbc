"""One exception type for user mistakes.

A bad sweep file, a bad flag value or a missing optional package is the user's to fix: it is raised as
`UserError` anywhere, and turned into a message and exit code 2 only at the CLI entry point. Internal
bugs stay ordinary exceptions with tracebacks.
"""


class UserError(Exception):
    """Bad input the user can fix; the message names the field and the fix."""


def missing_package(module: str, extra: str, instead: str | None = None) -> UserError:
    """The error for an optional dependency that is not installed, naming the extra to install."""
    msg = f"the Python module '{module}' is not installed: pip install 'scale-bench[{extra}]'"
    if instead:
        msg += f" (or use {instead})"
    return UserError(msg)
