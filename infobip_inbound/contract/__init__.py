"""The contract both roles share: the model, settings, routing and what sits in Redis."""
