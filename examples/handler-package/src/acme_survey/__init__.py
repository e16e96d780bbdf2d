"""Example handlers for infobip-inbound."""
