"""Recommenders measured by the personal suite that the product does not serve: a PixelRec-style
multimodal model and a SASRec-style sequential model."""
