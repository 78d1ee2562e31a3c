"""The ``bandbridge`` command: parses, calls one function, prints; one module per command group."""

from bandbridge.cli import catalog, evaluate, fill, predict, sharpen, tools, train
from bandbridge.cli.app import ReadableCommand, app, first_sentence, main

__all__ = ["app", "main"]

# The commands, in the order `bandbridge --help` lists them.
for _command in (catalog.presets, catalog.models, train.train, train.adapt, evaluate.evaluate, train.loso,
                 evaluate.report, predict.predict, evaluate.compare, tools.demo, evaluate.timeseries, evaluate.wald,
                 fill.fill, fill.gaps, sharpen.sharpen,
                 tools.export, tools.bench, tools.cache):
    app.command(cls=ReadableCommand, short_help=first_sentence(_command.__doc__))(_command)
