"""The LightningModules: the conditional GAN step on pairs (``paired.py``), CycleGAN's on unpaired
images (``cyclegan.py``), the schedules and optimiser step they share (``steps.py``) and what they
show in TensorBoard (``display.py``)."""
