"""The prediction core: inputs read as the model expects, tiled, predicted, blended and written."""
