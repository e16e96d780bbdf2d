"""Infobip: the wire format and its normalization, the API client and its retries."""
