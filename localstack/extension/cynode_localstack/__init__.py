"""CyNode's LocalStack extensions."""
