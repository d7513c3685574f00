"""scsc_theory: self-correcting self-consuming generative training, executable."""
__version__ = "0.1.0"
