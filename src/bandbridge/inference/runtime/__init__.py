"""What runs a model here: torch/ONNX/OpenVINO backends, the precision gate, `--backend auto`."""
