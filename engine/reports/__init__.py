"""Leadership's figures: aggregates kept as cases advance (hook.py, rebuild.py) and the queries on them
(figures.py, satisfaction.py, read.py), scoped by date range, center, service and department (scope.py)."""
