"""Readers, paired datasets and the Lightning DataModule."""

from bandbridge.data.reader import Raster, read_raster, raster_info

__all__ = ["Raster", "read_raster", "raster_info"]
