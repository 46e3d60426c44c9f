"""The ``farout`` command line: parse (:mod:`.arguments`), run a command
(:mod:`.commands`), and turn errors into exit codes here, in one place.

Exit codes: 0 ok, 2 usage or input error (one line, no traceback), 1 anything
unexpected, 130 on Ctrl-C, 143 on SIGTERM. Set FAROUT_DEBUG=1 to see
tracebacks.
"""

import os
import signal
import sys
import threading
import traceback

from ..exceptions import FaroutError
from ..writer import check_not_input, remove_pending
from .arguments import build_parser

__all__ = ["main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread stands so that the same
    clean-up as for Ctrl-C runs (no temporary file is left behind)."""


def _terminate(signum, frame):
    # The temporary outputs go first: the exception below unwinds through
    # the same clean-up, but a library blocked in a read (pandas on
    # standard input) may swallow it, so a timer makes sure the process ends.
    remove_pending()
    deadline = threading.Timer(_GRACE_SECONDS, os._exit, args=(128 + signal.SIGTERM,))
    deadline.daemon = True  # a normal exit does not wait for it
    deadline.start()
    raise Terminated()


_GRACE_SECONDS = 5


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    own_signals = threading.current_thread() is threading.main_thread()
    if own_signals:
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _run(args)
    finally:
        if own_signals:
            signal.signal(signal.SIGTERM, previous)


def _run(args):
    try:
        # an output that names the data would replace it when renamed
        check_not_input(getattr(args, "output", None), getattr(args, "data", None))
        args.func(args)
    except FaroutError as exc:
        print(f"farout: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (OSError, ValueError) as exc:
        # Bad input that reached a library we call: still the user's to fix.
        if os.environ.get("FAROUT_DEBUG"):
            traceback.print_exc()
        print(f"farout: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("FAROUT_DEBUG"):
            traceback.print_exc()
        print(
            f"farout: unexpected error: {type(exc).__name__}: {exc} "
            "(set FAROUT_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0
