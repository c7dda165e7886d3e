"""mobench: a benchmark suite for multi-objective alignment (MOA) of language models.

The harness lives here: specs (typed contracts), registry (methods and tasks by name),
evaluation (one protocol for every method), metrics (Pareto indicators), store (run folders),
reports and the CLI. Methods install as ``mobench.methods`` and tasks as ``mobench.tasks``.
"""

__version__ = "0.1.0"

from mobench.threads import pin_cpu_kernels as _pin_cpu_kernels

# Before anything imports torch: the same kernels on every x86-64 CPU (mobench/threads.py says why).
_pin_cpu_kernels()
