"""Dream Forge core: entities, rules, ports and use cases. Standard library only."""
