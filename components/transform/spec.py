"""The names this component adds to the stock Transform (whose spec it keeps).

nanguard's Transform subclasses `tfx.components.Transform`, so its keys and parameters are the
stock `tfx.types.standard_component_specs.TransformSpec`; what nanguard adds is named here once:
its default functions (dotted paths) and the file its executor writes into the TransformGraph
artifact. Imports nothing heavy.
"""

from nanguard.components import vocab

PREPROCESSING_FN = "nanguard.components.transform.preprocessing.preprocessing_fn"
STATS_OPTIONS_UPDATER_FN = "nanguard.components.transform.stats_options.stats_options_updater_fn"
# Written by the executor into <transform_graph uri>/; read by summary.summarize.
RECORD_FILENAME = vocab.TRANSFORM_RECORD_FILENAME
