"""The variants of the bundled model an index can be embedded with (pure Python: the CLI imports it for --help).

fp32 is the published model. int8 is its ONNX export with int8 weights (onnx.quantize_export): 2.5x the
abstracts per second of torch fp32 on 2 cores (scripts/bench.py), SciFact test nDCG@10 within 0.0022 of fp32
(scripts/measure_quantization.py). An index records its variant as part of its model id, so its documents
and questions are always embedded alike.
"""

FP32 = "fp32"
INT8 = "int8"
PRECISIONS = (INT8, FP32)
DEFAULT_PRECISION = INT8
