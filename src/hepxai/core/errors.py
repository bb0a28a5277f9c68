"""The one exception type the command line turns into a one-line message and exit code 2."""


class HepxaiError(ValueError):
    """A problem with the user's input (file, shape, value, option) rather than a bug.

    A :class:`ValueError`, so code that expects the standard library's exception for a bad
    value catches it too.

    The message must fit on one line and say what is wrong and what to do about it, e.g.
    ``"data/muon/train.h5: no such file; run 'hepxai simulate muon --out data/muon' first"``.
    """


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C whose one-line message a nested ``hepxai`` command already printed (a demo
    step): the outer command exits 130 without printing it again."""
