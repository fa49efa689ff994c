"""The catalog: benchmark, task and agent descriptors under containers/, loaded and validated."""

from bakectl.catalog.loader import Catalog, find_root
from bakectl.catalog.models import Agent, Benchmark, Task

__all__ = ["Agent", "Benchmark", "Catalog", "Task", "find_root"]
