"""Downloading a data set's published files: checksummed, resumable, unpacked atomically.

Three modules, one concept each:

* :mod:`.tables`: the ``[download]`` table of a data-set file (and download-only entries such as
  xlsa17), parsed and checked;
* :mod:`.transfer`: fetching one file over HTTP (streamed, hashed as it arrives, resumed with
  ``Range``, retried, verified);
* :mod:`.command`: ``zshbench download`` and ``run --download``: a whole data set into its data
  root, archives unpacked safely (:mod:`zshbench.archives`) and moved in only once complete.

This package re-exports only what needs no data set (tables and transfer): the data-set parser
(:mod:`zshbench.datasets.spec_file`) reads ``[download]`` tables, so importing this package must
not import :mod:`zshbench.datasets`; use :mod:`zshbench.download.command` for the command.
"""

from __future__ import annotations

from .tables import (
    Downloadable,
    DownloadResource,
    DownloadSpec,
    RemoteFile,
    download_spec_from_mapping,
    resource_from_toml,
)
from .transfer import Reporter

__all__ = [
    "DownloadResource",
    "DownloadSpec",
    "Downloadable",
    "RemoteFile",
    "Reporter",
    "download_spec_from_mapping",
    "resource_from_toml",
]
