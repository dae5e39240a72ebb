"""Where tasks execute besides the local Ploomber executor (see :mod:`.dask`)."""
