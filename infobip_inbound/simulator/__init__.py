"""A stand-in for the Infobip API parts infobip-inbound uses, for development, demos and tests."""
