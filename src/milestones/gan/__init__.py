"""GAN (Goodfellow et al. 2014) and DCGAN (Radford et al. 2016)."""
