"""Hand-built layers (tf.Module), the thesis's three models, their losses and a fused Adam."""
