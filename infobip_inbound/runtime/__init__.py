"""Process plumbing both roles share: logging, metrics, health, Redis clients, the status view."""
