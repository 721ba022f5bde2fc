"""sgc: Python binding of Sparrow's C gradient compression core."""
from sgc._errors import Error, FrameError, ArgumentError, StateError
from sgc._select import (select, select_with_info, SelectInfo, random_indices, PartitionSelector,
                         Residual, quantize, dequantize, value_bytes, METHODS, CODINGS)
from sgc._frame import (Frame, DropRecord, Reassembler, encode_sparse, encode_dense, encode_random_k,
                        encode_control, decode, decode_into, sign, verify, encoded_size_bound, stratified_indices,
                        chunk, compact_misfit, COMPACT_MAX, MSG_SPARSE_UPDATE, MSG_DENSE_MODEL,
                        MSG_SPARSE_MODEL_DELTA, MSG_HELLO, MSG_ROUND_OPEN, MSG_ACK, MSG_RESYNC)
__all__ = ["Error", "FrameError", "ArgumentError", "StateError",
           "select", "select_with_info", "SelectInfo", "random_indices", "PartitionSelector",
           "Residual", "quantize", "dequantize", "value_bytes", "METHODS", "CODINGS",
           "Frame", "DropRecord", "Reassembler", "encode_sparse", "encode_dense", "encode_random_k",
           "encode_control", "decode", "decode_into", "sign", "verify", "encoded_size_bound", "stratified_indices",
           "chunk", "compact_misfit", "COMPACT_MAX", "MSG_SPARSE_UPDATE", "MSG_DENSE_MODEL",
           "MSG_SPARSE_MODEL_DELTA", "MSG_HELLO", "MSG_ROUND_OPEN", "MSG_ACK", "MSG_RESYNC"]
