"""Linear hashing of fixed feature vectors, one method a module.

Unsupervised: :mod:`.lsh`, :mod:`.sh`, :mod:`.itq`. Supervised: :mod:`.sdh`, :mod:`.fssh`,
:mod:`.scdh`. Zero-shot: :mod:`.tsk`, :mod:`.ah`, :mod:`.opzh`, :mod:`.aszh`, :mod:`.sash`.
What several of them share (kernel features, discrete code solvers, the k-NN graph) is in
:mod:`.common`. Features come from :mod:`plugins.features`, chosen by ``-o extractor=``.
"""
