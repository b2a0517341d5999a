"""Hardware-aware architecture search: networks chosen by what they cost on the target (the calibrated cost
model and the folding optimizer), then trained, built and verified (see docs/search.md)."""
