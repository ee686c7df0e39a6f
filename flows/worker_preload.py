"""What newsflow's local workers have in memory before they start.

The process they are forked from (multiprocessing's forkserver, started by
`flows.task_runners.start_worker_forkserver`) imports this module once, so that no worker imports
Prefect, Dask and the stages, or loads the language model, itself.
"""

import distributed  # noqa: F401
import prefect.task_engine  # noqa: F401  runs a task on a worker
import prefect_dask  # noqa: F401

import pipeline.extract  # noqa: F401
from pipeline.language import shared_identifier

shared_identifier()  # loads the language model: about 0.4 s
