"""Readers and writers for every file format labelaudit understands.

This is the only package that knows file formats. Everything else receives
polars DataFrames or NumPy arrays.

Tables (:mod:`.tables`, :mod:`.label_studio`)
    :func:`read_table` picks a reader from :data:`READERS` by suffix (CSV,
    TSV, Parquet, Parquet dataset directories, JSON Lines, Label Studio
    JSON and JSON_MIN); :func:`register_reader` adds a format.
    :func:`read_annotation_table` also reads Label Studio CSV exports;
    :func:`read_reviews` reads reviewers' answers (undoing the CSV formula guard).
Label Studio tasks (:mod:`.label_studio`)
    :func:`label_studio_tasks` (import tasks with the suggested label as a
    prediction), :func:`label_studio_config` (the labeling interface).
Schema and identity helpers (:mod:`.tables`)
    :func:`require_columns`, :func:`encode_labels`, :func:`item_ids`,
    :func:`align_by_id`.
Multi-label sets (:mod:`.multilabel`)
    :func:`read_multilabel_table` (delimited or list columns),
    :func:`read_label_studio_multilabel` (multiple choices and their
    predictions), :func:`read_multilabel_probs` (per-class probabilities).
Probabilities (:mod:`.probs`)
    :func:`load_pred_probs` (``.npy`` memory map, ``.npz``, probability
    tables), :func:`load_pred_probs_shards` (row shards as a dask array).
Writers (:mod:`.writers`; atomic: a reader never sees a half-written file)
    :func:`atomic_write`, :func:`write_text`, :func:`write_json`,
    :func:`write_parquet`, :func:`write_csv`, :func:`write_output`, and
    :func:`publish` for a whole output set (swapped in at once, under
    :func:`output_lock`).
Configuration (:mod:`.config`)
    :func:`read_toml`.
Provenance
    :func:`file_fingerprint`, :func:`input_fingerprints`.
"""

from __future__ import annotations

from ._common import file_fingerprint
from .coco import DetectionDataset, read_coco_annotations, read_coco_predictions
from .config import read_json, read_toml
from .conll import read_conll, read_token_probs, read_token_table
from .images import read_image_bytes
from .label_studio import label_studio_config, label_studio_tasks
from .label_studio_detection import read_label_studio_rectangles
from .label_studio_segmentation import read_label_studio_brushes
from .label_studio_token import read_label_studio_spans
from .masks import (
    folder_fingerprint,
    read_image_folder,
    read_mask_array,
    read_mask_folder,
    read_segmentation_probs,
    stack_segmentation_probs,
)
from .multilabel import (
    read_label_studio_multilabel,
    read_multilabel_probs,
    read_multilabel_table,
)
from .probs import load_pred_probs, load_pred_probs_shards, open_npy_shard, shard_paths
from .regression import read_regression_predictions
from .tables import (
    READERS,
    Reader,
    align_by_id,
    encode_labels,
    input_fingerprints,
    item_ids,
    parquet_dataset_files,
    read_annotation_table,
    read_reviews,
    read_table,
    register_reader,
    require_columns,
)
from .writers import (
    atomic_write,
    output_lock,
    publish,
    write_csv,
    write_json,
    write_output,
    write_parquet,
    write_text,
)

__all__ = [
    "READERS",
    "Reader",
    "align_by_id",
    "atomic_write",
    "encode_labels",
    "file_fingerprint",
    "input_fingerprints",
    "item_ids",
    "label_studio_config",
    "label_studio_tasks",
    "load_pred_probs",
    "load_pred_probs_shards",
    "open_npy_shard",
    "output_lock",
    "parquet_dataset_files",
    "publish",
    "read_annotation_table",
    "read_image_bytes",
    "read_reviews",
    "read_table",
    "read_json",
    "read_toml",
    "register_reader",
    "require_columns",
    "shard_paths",
    "write_csv",
    "write_json",
    "write_output",
    "write_parquet",
    "write_text",
    "DetectionDataset",
    "read_coco_annotations",
    "read_coco_predictions",
    "read_label_studio_rectangles",
    "read_conll",
    "read_token_probs",
    "read_token_table",
    "read_label_studio_spans",
    "read_regression_predictions",
    "read_mask_folder",
    "read_segmentation_probs",
    "read_image_folder",
    "read_label_studio_brushes",
    "read_mask_array",
    "stack_segmentation_probs",
    "folder_fingerprint",
    "read_multilabel_table",
    "read_multilabel_probs",
    "read_label_studio_multilabel",
]
