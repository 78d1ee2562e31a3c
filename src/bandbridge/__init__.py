"""bandbridge: translate imagery across sensors (NIR from RGB, optical from SAR, thermal from RGB,
super-resolution). What ships is what measured best held out: per-pixel learners and their
zero-shot floors for most bands, networks for super-resolution, a conditional GAN's residual
where it carried, and a coarse reference of the band where one is given."""

__version__ = "0.1.0"
