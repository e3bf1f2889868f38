"""Engines: VAG's graphs exported, built, loaded and run behind one ``infer(dict) -> dict``.

io_contract (names, dtypes, shapes, profiles) -> graphs (torch modules) -> export (ONNX +
manifest) -> build (TensorRT plans) -> runtimes (torch, onnxruntime, tensorrt) ->
engine_pipeline (generation) -> bench (measurements).
"""
