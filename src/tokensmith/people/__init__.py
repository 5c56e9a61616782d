"""People: tenants' users, roles, passwords, sign-in sessions."""
