"""Adapters: one subpackage per technology, each implementing core ports. They never import
each other; the composition root in dreamforge_apps wires them."""
