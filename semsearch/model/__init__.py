"""Text -> vectors: the bundled sentence model, its int8 ONNX variant, and the embedders."""
