"""What an operator sees of the running system: metrics (metrics.py, collectors.py, http.py),
traces (tracing.py) and log lines (logs.py).

Nothing is imported here: the log formatters load before Django does (gunicorn's configuration),
and the tracing SDK only when tracing is on.
"""
