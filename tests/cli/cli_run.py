"""``run_cli``: the ``collop`` command run in-process, for the tests of ``tests/cli``."""
from __future__ import annotations

from collop import cli


def run_cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``collop ARGV`` (``capsys``: pytest's fixture)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err
