"""The command-line programs behind ``posenet3d <command>`` and the scripts in ``main/`` and ``demo/``.

Each module has ``main(argv, prog) -> exit code`` and a docstring that ends with real examples (its ``--help``).
"""
from pathlib import Path

#: The repository root (the bundled model, configs and demo images live there in a clone).
REPO = Path(__file__).resolve().parents[2]


def command_parser(prog: str | None, doc: str | None):
    """An ``argparse`` parser whose help shows ``doc`` with its example command lines gathered at the end, and
    whose usage errors are one line on stderr (``<prog>: error: <message> (see <prog> --help)``, exit code 2).

    Example lines are the docstring's indented lines that start with ``posenet3d``, ``python`` or ``torchrun``
    (with their ``\\`` continuation lines); the rest is the description."""
    import argparse
    text, examples, cont = [], [], False
    for line in (doc or "").strip("\n").splitlines():
        s = line.strip()
        if cont or (line.startswith(" ") and s.startswith(("posenet3d ", "python ", "torchrun "))):
            examples.append("  " + s if not cont else "      " + s)
            cont = s.endswith("\\")
        elif s != "Examples:":
            text.append(line)
    description = "\n".join(text).strip()
    epilog = ("examples:\n" + "\n".join(examples)) if examples else None

    class OneLineErrors(argparse.ArgumentParser):
        def error(self, message: str):
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    return OneLineErrors(prog=prog, description=description, epilog=epilog,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
