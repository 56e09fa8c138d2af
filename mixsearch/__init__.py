"""mixsearch: search attention modules for YOLO-style detectors and emit them as clean PyTorch code."""

__version__ = "0.1.0"
