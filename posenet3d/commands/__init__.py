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


def estimator_options(items: list[str], flag: str = "--fast") -> dict:
    """``KEY=VALUE`` command-line items → :class:`~posenet3d.estimator.Estimator` keyword arguments (each value
    read as YAML: ``true``, ``320``, ``0.5``). Raises ``ValueError`` naming ``flag`` and the item for a malformed
    item or a key that is not an estimator option."""
    import yaml

    from posenet3d.bundle import option_names
    known, out = option_names(), {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} {item}: expected KEY=VALUE (e.g. det_keep_aspect=true)")
        if key not in known:
            raise ValueError(f"{flag} {item}: {key} is not an estimator option; known: {', '.join(known)}")
        out[key] = yaml.safe_load(value)
    return out
