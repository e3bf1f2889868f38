"""Children that tests send signals to start with those signals' default dispositions.

A test that sends SIGHUP or SIGINT to a child measures how the child handles it; a child
inherits its parent's ignored signals, so under `nohup make test` (SIGHUP ignored) or
`make test &` in a script (SIGINT ignored) the child would ignore the signal on purpose (as
`nohup vag-ros ...` must) and the test would measure the runner, not the code. A terminal's
child starts with the defaults; these children do too.
"""

import signal

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def default_signals(*numbers: int):
    """A ``preexec_fn`` for subprocess.Popen: ``numbers`` (default: SIGINT, SIGTERM,
    SIGHUP) back at SIG_DFL in the child before it runs."""
    numbers = numbers or HANDLED

    def reset() -> None:
        for number in numbers:
            signal.signal(number, signal.SIG_DFL)
    return reset
