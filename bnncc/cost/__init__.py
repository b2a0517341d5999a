"""Cost models: device capacities, analytical resource/latency estimates, calibration."""
