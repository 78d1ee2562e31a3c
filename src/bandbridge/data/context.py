"""The generator's context row for one image or tile, without torch (prediction imports it)."""

from __future__ import annotations


def pixel_latlon(crs, transform, row: float, col: float) -> tuple[float, float]:
    """WGS84 (lat, lon) of a pixel position of a georeferenced grid."""
    from rasterio.warp import transform as warp
    x, y = transform @ (col, row)
    lon, lat = warp(crs, "EPSG:4326", [x], [y])
    return float(lat[0]), float(lon[0])


def context_row(lat: float, lon: float, gsd: float | None, sensor: str | None,
                sensors: list[str]) -> list[float]:
    """One row of the generator's context: lat, lon (degrees), GSD (m; NaN unknown), sensor index
    (−1 unknown)."""
    return [lat, lon, float(gsd) if gsd else float("nan"),
            float(sensors.index(sensor)) if sensor in sensors else -1.0]
