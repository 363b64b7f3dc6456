"""Code only the benchmark loads (``make bench``): the production processes never import it."""
