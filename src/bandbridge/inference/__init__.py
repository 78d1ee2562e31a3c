"""Prediction over rasters of any size: tile planning, blending, backends, GeoTIFF writing.

Nothing here imports Lightning; the ONNX path imports neither torch nor Lightning.
"""
