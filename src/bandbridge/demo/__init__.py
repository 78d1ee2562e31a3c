"""The web demo (Gradio): upload an image, pick a bundled model, see and download the result."""
