"""The real classic worker (azure_functions_worker 4.34), driven through its own mock host from a process of its
own: `client.RealWorker` is the handle the real-worker tests and `funcscope bench --realworker` use; `driver.py`
(run with the worker venv's Python) plays the host; `worker_side/` runs in each worker process."""
