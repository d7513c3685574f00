"""``--mode`` / ``--subsample``: the workflow options shared by ``scsc toy`` and ``scsc sweep``."""

WORKFLOW_CHOICES = ("fixed (Theorem 4.3: n real + floor(lam n) fresh synthetic) | replace (fresh synthetic only) | "
                    "accumulate-all (all real + all past synthetic, equal weights) | accumulate-subsample "
                    "(--subsample points drawn from that pool) | toy-schedule (the paper script's schedule; alias "
                    "accumulate); see scsc_theory.workflows")


def add_workflow_args(p, *, default: str, note: str = "") -> None:
    """Add ``--mode`` (default ``default``; ``note`` says why) and ``--subsample`` to parser ``p``."""
    p.add_argument("--mode", default=default, help=f"workflow: {WORKFLOW_CHOICES}; default {default}{note}")
    p.add_argument("--subsample", type=int, default=None,
                   help="training-set size of --mode accumulate-subsample (default n)")
