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


#: errno -> (what happened, what to do, whether the user can fix it: exit 2, else 1)
_OS_ERRORS = {
    "ENOSPC": ("no space left on the device", "free space or choose another --out", True),
    "EDQUOT": ("disk quota exceeded", "free space or choose another --out", True),
    "EROFS": ("the file system is read-only", "choose a writable --out", True),
    "EACCES": ("permission denied", "choose a place you may write, or fix the permissions",
               True),
    "EPERM": ("operation not permitted", "choose a place you may write, or fix the "
              "permissions", True),
    "ENOTDIR": ("a part of the path is a file, not a directory", "choose another path", True),
    "EISDIR": ("is a directory, not a file", "give a file", True),
    "EEXIST": ("already exists", "remove it or choose another path", True),
    "ENOENT": ("no such file or directory", "check the path", True),
    "ENAMETOOLONG": ("the path is too long", "choose a shorter path", True),
    "EMFILE": ("too many open files", "raise the limit ('ulimit -n') and run again; if it "
               "recurs, report it: hepxai should not need that many", False),
    "ENFILE": ("the system has too many open files", "close other programs and run again",
               False),
    "EIO": ("input/output error", "the disk or network file system failed; check it and run "
            "again", False),
}


def os_error_line(error: OSError) -> tuple[str, int]:
    """The one-line message for an operating-system error and the exit code: 2 when the user
    can fix it (no space, read-only, permission, a path that is wrong), 1 when it is not theirs
    to fix (too many open files, an I/O error). The message names the file when the error
    carries it (HDF5 puts it in its text).

    >>> import errno
    >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "runs/x/train.h5"))
    ('runs/x/train.h5: no space left on the device; free space or choose another --out', 2)
    """
    import errno as errno_names
    import re

    text = str(error)
    number = error.errno
    if number is None:  # HDF5 reports through its message: "errno = 28, ..."
        found = re.search(r"errno = (\d+)", text)
        number = int(found.group(1)) if found else None
    path = error.filename
    if path is None:
        found = re.search(r"(?:file )?name = '([^']+)'", text)
        path = found.group(1) if found else None
    if path is not None:  # an atomic write's temporary sibling: name the file being written
        import os

        head, tail = os.path.split(str(path))
        temporary = re.fullmatch(r"\.(.+)\.[A-Za-z0-9_]+\.partial", tail)
        path = os.path.join(head, temporary.group(1)) if temporary else path
    name = errno_names.errorcode.get(number, "") if number is not None else ""
    if name in _OS_ERRORS:
        what, remedy, users = _OS_ERRORS[name]
        where = f"{path}: " if path else ""
        return f"{where}{what}; {remedy}", 2 if users else 1
    first = text.splitlines()[0] if text else type(error).__name__
    return (f"{first} (an operating-system error hepxai does not know how to explain; if it "
            "is not about your files or disk, report it)", 1)
