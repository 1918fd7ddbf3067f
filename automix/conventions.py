"""Facts shared by the whole project, defined once here (dependency-free: importing this module imports nothing).

Every other module imports these names (possibly under a local alias) instead of writing the values again.
"""

SAMPLE_RATE = 44100  # Hz; the only sample rate of the release's configs (spec "Conventions", §1.1 `SR`)
STEMS = ("vocals", "bass", "drums", "other")  # stem types in network input order (spec "Conventions", config INPUTS)
MODES = ("fixed", "release")  # normalization modes: intended behaviour (default) or the published one (spec §9)
SILENCE_GATE_DB = -50.0  # dBFS; a stem whose peak is at or below this is silence, left unchanged (spec §1.3 item 4)
COMPRESSION_SEARCHES = ("fast", "grid")  # how the compression setting is found (fast bisection, the release's grid)
