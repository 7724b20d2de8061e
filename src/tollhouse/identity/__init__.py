"""Reserved for the components that follow (see DESIGN.md)."""
