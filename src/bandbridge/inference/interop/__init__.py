"""Ways in and out to other systems: GDAL VRTs, STAC Items and the QGIS Deepness export."""
