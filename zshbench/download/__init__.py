"""Downloading a data set's published files: checksummed, resumable, unpacked atomically.

Three modules, one concept each:

* :mod:`.tables`: the ``[download]`` table of a data-set file (and download-only entries such as
  xlsa17), parsed and checked;
* :mod:`.transfer`: fetching one file over HTTP (streamed, hashed as it arrives, resumed with
  ``Range``, retried, verified);
* :mod:`.command`: ``zshbench download`` and ``run --download``: a whole data set into its data
  root, archives unpacked safely (:mod:`zshbench.archives`) and moved in only once complete.

This package re-exports the tables only. The data-set parser (:mod:`zshbench.datasets.spec_file`)
and the plugin loader read them, so importing this package must stay cheap (no HTTP client,
about 20 ms, at every start of the CLI) and must not import :mod:`zshbench.datasets`, which
imports the parser (a circle). Import :mod:`.transfer` and :mod:`.command` by name.
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

__all__ = [
    "DownloadResource",
    "DownloadSpec",
    "Downloadable",
    "RemoteFile",
    "download_spec_from_mapping",
    "resource_from_toml",
]
