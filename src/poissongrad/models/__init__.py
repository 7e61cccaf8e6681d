"""Models with Poisson latents: the Poisson VAE and the partially observable GLM."""
