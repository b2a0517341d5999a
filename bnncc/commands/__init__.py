"""The `bnncc` subcommands, one module each: `add_parser(subparsers)` adds its arguments and sets
`fn`, the function that runs it. `compile` is the default command (`bnncc MODEL.onnx --target ...`)."""

SUBCOMMANDS = ("inspect", "run", "report", "rram-sweep", "train", "calibrate", "charts", "search")
MODULES = {"inspect": "inspect", "run": "run", "report": "report", "rram-sweep": "rram_sweep", "train": "train",
           "calibrate": "calibrate", "charts": "charts",
           "search": "search"}
