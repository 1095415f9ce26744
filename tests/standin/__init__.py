"""Stand-ins for systems that do not exist on development machines (a Kubernetes API)."""
