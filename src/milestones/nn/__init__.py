"""Layers written once and shared by the Transformer, BERT and GPT: attention, positions, blocks, decoding."""
