"""genai_widgets: train generative models in a background thread and watch them live in Jupyter."""

__version__ = "0.1.0"
