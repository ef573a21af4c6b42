"""Device catalog, the virtual board that runs the real firmware on a PC, and the demo."""
