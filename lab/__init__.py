"""Voice Lab engines: audio I/O, the model registry, TTS, cloning and conversion.

ONNX Runtime 1.31 on Linux keeps a device id and a queue of usage events under
~/.cache/Microsoft and uploads them when it can. Voice Lab runs offline and
sends nothing about its users, so that is switched off here, before any ONNX
model loads (every module of the app and the evaluation lab imports this
package first). Set ORT_DISABLE_TELEMETRY=0 to allow it.
"""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
