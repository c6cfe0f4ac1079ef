//! Streaming readers of training-data files (filled in by the reader work).
