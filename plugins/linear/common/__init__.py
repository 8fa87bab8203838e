"""Code shared by the linear methods: kernel features and a base class (:mod:`.kernel_hashing`),
discrete code solvers (:mod:`.discrete_solvers`), the k-NN graph Laplacian (:mod:`.knn_graph`)."""
