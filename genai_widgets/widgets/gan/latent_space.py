"""The latent-space views moved to `genai_widgets/widgets/latent_space.py` (the GAN and the VAE
dashboards both show them); this name stays for code that imports it from here."""

from ..latent_space import STRIP_SIGMAS, CandidatesPanel, LatentSpacePanel

__all__ = ["STRIP_SIGMAS", "CandidatesPanel", "LatentSpacePanel"]
