"""``python -m crystallize_opt`` runs the command line."""

try:
    from .cli import entry_point
except KeyboardInterrupt:
    # Ctrl+C in the milliseconds before the command line can handle it: end as the signal
    # itself would (a shell reports 130), not with a traceback.
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    raise

entry_point()
