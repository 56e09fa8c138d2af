"""Code generation: an Arch becomes a standalone PyTorch module file (`render`), Ultralytics model YAMLs and a
training script (`ultralytics`); `emit` writes all of them for one Arch. Which names emitted code can use is
`mixsearch.names`, shared with the DSL."""
