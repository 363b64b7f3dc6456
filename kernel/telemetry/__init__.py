"""What every process tells the operator about itself: metrics (``metrics``)."""
