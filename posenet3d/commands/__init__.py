"""The command-line programs behind ``posenet3d <command>`` and the scripts in ``main/``.

Each module has ``main(argv) -> exit code`` and a docstring that ends with real examples (its ``--help``).
"""
