"""Prediction over rasters of any size, in four rooms, each importing only the ones before it:
``core`` (interpretation, tiling, predictor, writer), ``runtime`` (backends, precision gate,
``--backend auto``), ``interop`` (VRT, STAC, QGIS) and ``jobs`` (``bandbridge predict``, Dask).

Nothing here imports Lightning; the ONNX path imports neither torch nor Lightning.
"""
