"""Machine description -> transformer weights (see compiling.compile_machine and nodes.py)."""
