"""Users, roles, API tokens, consents, the audit chain and the permission rules of the service."""
