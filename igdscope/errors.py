"""The project's exceptions and the exit codes the command line documents.

Every error a user can cause with input is an :class:`IgdscopeError` whose ``str()`` is one line
naming the thing and the problem; the CLI prints it and exits with the error's ``exit_code``.
"""

from __future__ import annotations

# Exit codes (README "Exit codes" lists the same numbers; tests check that they agree).
EXIT_OK = 0
EXIT_FINDINGS = 1  # a check failed / a diff found unexpected differences
EXIT_USAGE = 2  # argparse's own code for bad command lines
EXIT_BAD_INPUT = 3  # a file could not be read, decoded or written (no space, read-only, no directory)
EXIT_NO_IGD = 4  # no Intel display device on this machine (dump)
EXIT_PERMISSION = 5  # the operation needs privileges this process does not have
EXIT_REFUSED = 6  # a safety check refused a write, or a device write did not verify
EXIT_BLOCKED = 7  # hook run: the guard stops a VM start (its mode fails on this host)
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C or a signal before the work was done (128 + SIGINT)


class IgdscopeError(Exception):
    """Base class: a one-line, user-facing problem."""

    exit_code = EXIT_BAD_INPUT


class BadInput(IgdscopeError):
    """Input that is truncated, corrupted, hostile or of an unknown kind."""

    exit_code = EXIT_BAD_INPUT


class NoIGD(IgdscopeError):
    exit_code = EXIT_NO_IGD


class NeedsPrivilege(IgdscopeError):
    exit_code = EXIT_PERMISSION
