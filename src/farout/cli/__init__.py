"""The ``farout`` command line: parse (:mod:`.arguments`), run a command
(:mod:`.commands`), and turn errors into exit codes here, in one place.

Exit codes: 0 ok, 2 usage or input error (one line, no traceback), 1 anything
unexpected, 130 on Ctrl-C, 143 on SIGTERM. Set FAROUT_DEBUG=1 to see
tracebacks.
"""

import os
import signal
import socket
import sys
import threading
import time
import traceback
import warnings

from ..exceptions import FaroutError, FaroutWarning
from ..outputs import check_not_input, remove_pending
from .arguments import build_parser

__all__ = ["main"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread stands so that the same
    clean-up as for Ctrl-C runs (no temporary file is left behind)."""


def _terminate(signum, frame):
    raise Terminated()


def _watch_sigterm():
    """A thread that acts on SIGTERM at once, whatever the main thread is
    doing: CPython runs the handler above only when the main thread next
    runs Python code, and a C library blocked in a read (pandas on standard
    input) may keep it from ever doing so. The signal's byte arrives on a
    socket (``signal.set_wakeup_fd``); the thread removes the temporary
    outputs and, if the main thread has not unwound in time, ends the
    process. Returns the function that stops the watch."""
    receive, send = socket.socketpair()
    send.setblocking(False)
    previous = signal.set_wakeup_fd(send.fileno())

    def watch():
        with receive:  # closed here, once stop() has closed the other end
            while data := receive.recv(1):
                if data[0] == signal.SIGTERM:
                    remove_pending()
                    time.sleep(_GRACE_SECONDS)
                    os._exit(128 + signal.SIGTERM)

    threading.Thread(target=watch, name="farout-sigterm", daemon=True).start()

    def stop():
        signal.set_wakeup_fd(previous)
        send.close()  # the watch's recv() returns b"" and the thread ends

    return stop


_GRACE_SECONDS = 5


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """farout's own warnings as one line, without a source path."""
    if issubclass(category, FaroutWarning):
        print(f"farout: warning: {message}", file=sys.stderr)
    else:
        _default_show(message, category, filename, lineno, file, line)


_default_show = warnings.showwarning


def main(argv=None):
    with warnings.catch_warnings():  # restores the caller's filters and hook
        warnings.simplefilter("always", FaroutWarning)
        warnings.showwarning = _show_warning
        return _main(argv)


def _main(argv):
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named with the subcommand's usage, not the top level's
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if threading.current_thread() is not threading.main_thread() or args.command == "serve":
        # signals belong to whoever runs the main thread; uvicorn shuts the
        # service down on SIGTERM itself, finishing requests in flight
        return _run(args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    stop_watch = _watch_sigterm()
    try:
        return _run(args)
    finally:
        stop_watch()
        signal.signal(signal.SIGTERM, previous)


def _command(name):
    """The function that runs command ``name``, imported only now: the
    libraries behind the commands take a second or more to import, and
    ``info`` needs none of them."""
    if name == "info":
        from .info import cmd_info

        return cmd_info
    if name == "stream":
        from .stream import cmd_stream

        return cmd_stream
    if name in ("serve", "keys", "feedback", "retrain"):
        from . import service

        return getattr(service, f"cmd_{name}")
    from . import commands

    return getattr(commands, f"cmd_{name}")


def _run(args):
    try:
        # an output that names the data would replace it when renamed
        check_not_input(getattr(args, "output", None), getattr(args, "data", None))
        _command(args.command)(args)
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
