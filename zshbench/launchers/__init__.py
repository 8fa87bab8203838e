"""Launchers: a sweep's cells as separate jobs (``--launcher local`` or ``slurm``) and its status.

A *cell* is one record: (method, data set, split, bits, seed). :mod:`.cells` lists a sweep's
cells and what state each is in, :mod:`.jobs` is what runs one cell in a job, :mod:`.submit`
sends cells to submitit's executors and waits for them, and :mod:`.status` prints the grid.
"""
