"""Code generation: an Arch becomes a standalone PyTorch module file."""

from mixsearch.codegen.render import describe, render_module, write_module

__all__ = ["describe", "render_module", "write_module"]
