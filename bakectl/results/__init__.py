"""Results: the run directory and its records, reports, gates and re-scoring.

Everything here reads or writes what a run left on disk; nothing here runs an agent.
"""
