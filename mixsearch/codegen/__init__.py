"""Code generation: an Arch becomes a standalone PyTorch module file (`render`), Ultralytics model YAMLs and a
training script (`ultralytics`); `names` says which names emitted code can use."""
