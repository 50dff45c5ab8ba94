"""pbt's command protocol in a few lines, so that a Python trainer is one function.

Standard library only. Put this file beside your trainer (Python finds it there) and write:

    import pbt_trainer

    def train(request):
        model = load(request.restore) if request.restore else new_model(request.seed32)
        if not request.evaluate:
            ...train request.steps steps with request.hyperparameters["lr"]...
            save(model, request.save)
        return {"score": validation_score, "metrics": {"loss": loss}, "steps": request.steps}

    pbt_trainer.serve(train)

`serve` reads one JSON request a line from stdin and writes one JSON result a line to stdout,
for `mode: persistent` (requests until end of input) and `mode: once` (one request) alike.
Your function's exceptions go to stderr and end the program with exit 1: the trainer counts
the task as failed, and the selector retries the member from its last good checkpoint.
Print your own logs to stderr (stdout carries the protocol).
"""
import json
import os
import sys

__all__ = ["Request", "serve"]


class Request:
    """One training task: what to train, from where, and where to save."""

    def __init__(self, fields):
        self.fields = fields
        #: The member's id (0 ..< population).
        self.member = int(fields["member"])
        #: The step the member is at, and how many to train.
        self.step = int(fields["step"])
        self.steps = int(fields["steps"])
        #: The member's 64-bit seed: the same for a member throughout.
        self.seed = int(fields["seed"])
        #: The same seed folded to 32 bits, which numpy, scikit-learn and gymnasium accept.
        self.seed32 = int(fields.get("seed32", (self.seed ^ (self.seed >> 32)) & 0xFFFFFFFF))
        #: The hyperparameters to train with, by name.
        self.hyperparameters = dict(fields.get("hyperparameters", {}))
        #: The checkpoint to start from (read it, never modify it), or None for a new member.
        self.restore = fields.get("restore")
        #: Where to write the new checkpoint (a training task must write one).
        self.save = fields["save"]
        #: True: only measure the checkpoint in `restore` (no training, no saving).
        self.evaluate = bool(fields.get("evaluate", False))

    def seeds(self, *more):
        """A seed list for numpy.random.default_rng: this member's, then `more` (a step, a purpose)."""
        return [self.seed32] + [int(value) & 0xFFFFFFFF for value in more]


def _result(value, request):
    if not isinstance(value, dict):
        raise TypeError(f"the trainer function must return a dict with 'score', got {type(value).__name__}")
    score = value.get("score")
    # A diverged score (nan, inf) is passed on: pbt ranks it worst, and exploit replaces the member.
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise ValueError(f"'score' must be a number, got {score!r}")
    metrics = {name: float(number) for name, number in dict(value.get("metrics", {})).items()}
    steps = int(value.get("steps", 0 if request.evaluate else request.steps))
    return {"score": float(score), "metrics": metrics, "steps": steps}


def serve(train, name=None):
    """Answer every request on stdin with `train(Request)`; returns at end of input."""
    name = name or os.path.basename(sys.argv[0]) or "trainer"
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = Request(json.loads(line))
            result = _result(train(request), request)
        except Exception as error:  # the trainer counts a failed task and retries the member
            print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            sys.exit(1)
        print(json.dumps(result), flush=True)
