"""`bandbridge predict` as jobs: inputs checked before any work, then predicted here or on Dask."""
